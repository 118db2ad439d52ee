"""How long to keep capturing after the load: until no timer involved could still send.

The timers, each from where it is defined:
- the device stack's TIME_WAIT, 2*MSL: the variant's [expect] time_wait_s (cited there; for
  nodemcu-2016 the fork's TCP_MSL 60000 ms, app/include/lwip/tcp_impl.h, so 120 s). A peer's
  segment in TIME_WAIT is answered, so this bounds what the device may still send.
- Linux's FIN_WAIT_2 timeout: net.ipv4.tcp_fin_timeout (default 60 s).
- Linux's retransmissions of an orphaned socket's FIN: net.ipv4.tcp_orphan_retries; 0 means 8
  while the peer is alive (torvalds/linux net/ipv4/tcp_timer.c, tcp_orphan_retries()), each
  after a doubling RTO that starts at no less than TCP_RTO_MIN = 200 ms
  (include/net/tcp.h), so 0.2 * (2^9 - 1) = 102.2 s from the first FIN.
- Linux's retransmissions on a socket that is not orphaned: net.ipv4.tcp_retries2 (default 15),
  a time budget computed as if the RTO doubled from TCP_RTO_MIN up to TCP_RTO_MAX = 120 s
  (net/ipv4/tcp_timer.c, retransmits_timed_out(): tcp_model_timeout()), so ~924.6 s.
The study's cooldown runs until both stacks are quiet (closebench.pipeline.quiet); its limit
is Linux's own retry budget: the longer of the orphan FIN span and the tcp_retries2 span.
The Linux values are read from a fresh network namespace (each namespace has its own), or
from this host's /proc when no namespace can be made.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from closebench.variants.manifest import Variant

TCP_RTO_MIN_S = 0.2  # include/net/tcp.h: TCP_RTO_MIN = HZ/5
TCP_RTO_MAX_S = 120.0  # include/net/tcp.h: TCP_RTO_MAX = 120*HZ
ORPHAN_RETRIES_WHEN_ZERO = 8  # net/ipv4/tcp_timer.c: tcp_orphan_retries(): 0 -> 8 if alive
MARGIN_S = 10.0  # past the longest timer: the last packet it sends, then quiet on record
SYSCTLS = ("tcp_fin_timeout", "tcp_orphan_retries", "tcp_retries2")


def _read_sysctls() -> tuple[dict[str, int], str]:
    files = [f"/proc/sys/net/ipv4/{name}" for name in SYSCTLS]
    try:
        out = subprocess.run(
            ["unshare", "--net", "--", "cat", *files],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.split()
        if len(out) == len(SYSCTLS):
            return {n: int(v) for n, v in zip(SYSCTLS, out, strict=True)}, "fresh network namespace"
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    values = {}
    for name, path in zip(SYSCTLS, files, strict=True):
        try:
            values[name] = int(Path(path).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return values, "this host's /proc/sys (no namespace could be made)"


def orphan_span_s(retries: int, rto_s: float = TCP_RTO_MIN_S) -> float:
    """Seconds from an orphan's first FIN until Linux gives it up (after its last retry's RTO)."""
    n = retries or ORPHAN_RETRIES_WHEN_ZERO
    return round(sum(min(rto_s * 2**k, TCP_RTO_MAX_S) for k in range(n + 1)), 3)


def timers(variant: Variant) -> dict[str, Any]:
    """Every timer that can still send after the load, in seconds, with where it comes from."""
    sysctls, where = _read_sysctls()
    tw = variant.expect.get("time_wait_s")
    device_tw = float(tw.value) if tw is not None and isinstance(tw.value, int | float) else None
    cite = f"{tw.cite.repo}@{tw.cite.ref}:{tw.cite.path}" if tw is not None and tw.cite else None
    fin_timeout = float(sysctls.get("tcp_fin_timeout", 60))
    orphan = sysctls.get("tcp_orphan_retries", 0)
    retries2 = sysctls.get("tcp_retries2", 15)
    items = {
        "device_time_wait_s": {"value": device_tw, "from": f"[expect] time_wait_s ({cite})"},
        "linux_fin_wait_2_s": {"value": fin_timeout, "from": f"tcp_fin_timeout, {where}"},
        "linux_retries2_s": {
            "value": orphan_span_s(retries2),
            "from": f"tcp_retries2={retries2} ({where}), RTO from TCP_RTO_MIN {TCP_RTO_MIN_S} s "
            f"doubling, at most TCP_RTO_MAX {TCP_RTO_MAX_S:g} s",
        },
        "linux_orphan_fin_retries_s": {
            "value": orphan_span_s(orphan),
            "from": f"tcp_orphan_retries={orphan} ({where}; 0 means "
            f"{ORPHAN_RETRIES_WHEN_ZERO}), RTO from TCP_RTO_MIN {TCP_RTO_MIN_S} s doubling",
        },
    }
    longest = max(v["value"] or 0.0 for v in items.values())
    budget = max(items["linux_retries2_s"]["value"], items["linux_orphan_fin_retries_s"]["value"])
    return {
        "timers": items,
        "sysctls": sysctls,
        "longest_s": longest,
        "margin_s": MARGIN_S,
        "cooldown_s": longest + MARGIN_S,
        # the study's cooldown: until both stacks are quiet, at most Linux's retry budget
        "until_quiet": True,
        "cooldown_limit_s": round(budget + MARGIN_S, 3),
        "cooldown_limit_from": "the longer of linux_retries2_s and linux_orphan_fin_retries_s, "
        f"+ {MARGIN_S:g} s",
        "caveat": "an orphan FIN whose first RTO is above 200 ms (a slow path's RTT) retransmits "
        "for longer (1 s: 511 s); seed.json's after_load.last_packet_after_stop_s against "
        "cooldown_end_after_stop_s shows whether the capture ended in silence",
    }
