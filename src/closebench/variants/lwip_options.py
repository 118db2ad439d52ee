"""lwIP option names and sane values, checked without a build or a download.

The names come from data/lwip_options.json, generated from Debian's lwIP opt.h and
tcp_priv.h by dev-tools/gen_lwip_options.py (every macro a port may override, per release).
The ranges below are ours: each is the C type the value ends up in inside lwIP (a u16_t
field cannot hold a 70000-byte MSS) or, where the type is wide, a bound no ESP build comes
near. A value given as a C expression string is not evaluated; only its name is checked.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources

OptionValue = int | str | bool

U8 = (0, 0xFF)
U16 = (0, 0xFFFF)
I32 = (0, 0x7FFFFFFF)
# Largest window with scaling: 0xFFFF << TCP_RCV_SCALE (at most 14, RFC 7323).
SCALED_WINDOW = 0xFFFF << 14

# name -> (low, high, why). Names not listed only have to be >= 0 and fit 32 bits.
RANGES: dict[str, tuple[int, int, str]] = {
    "TCP_MSS": (1, 0xFFFF, "u16_t mss in tcp_pcb"),
    "TCP_SND_QUEUELEN": (1, 0xFFFF, "u16_t snd_queuelen in tcp_pcb"),
    "TCP_SNDQUEUELOWAT": (0, 0xFFFF, "u16_t queue length"),
    "TCP_TTL": (*U8, "u8_t ttl"),
    "IP_DEFAULT_TTL": (*U8, "u8_t ttl"),
    "TCP_MAXRTX": (*U8, "u8_t nrtx"),
    "TCP_SYNMAXRTX": (*U8, "u8_t nrtx"),
    "TCP_DEFAULT_LISTEN_BACKLOG": (*U8, "u8_t backlog"),
    "TCP_RCV_SCALE": (0, 14, "RFC 7323 window scale shift"),
    "MEM_SIZE": (1, I32[1], "heap bytes"),
    "MEM_ALIGNMENT": (1, 4096, "alignment in bytes"),
    "PBUF_POOL_SIZE": (*U16, "u16_t pool count"),
    "PBUF_POOL_BUFSIZE": (1, 0xFFFF, "u16_t pbuf length"),
    "TCP_TMR_INTERVAL": (1, I32[1], "timer interval in ms"),
    "TCP_FAST_INTERVAL": (1, I32[1], "timer interval in ms"),
    "TCP_SLOW_INTERVAL": (1, I32[1], "timer interval in ms"),
    "TCP_MSL": (1, I32[1], "segment lifetime in ms"),
}
# TCP_WND and TCP_SND_BUF are tcpwnd_size_t: u16_t unless LWIP_WND_SCALE is on.
WINDOWS = ("TCP_WND", "TCP_SND_BUF")
_INT_LITERAL = re.compile(r"\(?\s*(-?\s*(?:0[xX][0-9a-fA-F]+|\d+))[uUlL]*\s*\)?")


@cache
def _data() -> dict[str, dict[str, str]]:
    text = resources.files("closebench.data").joinpath("lwip_options.json").read_text()
    return json.loads(text)["releases"]


def releases() -> tuple[str, ...]:
    return tuple(_data())


def option_kinds(release: str) -> dict[str, str]:
    """name -> "flag" (documented NAME==1) or "value", for every overridable option."""
    return _data()[release]


def _as_int(value: OptionValue) -> int | None:
    """The integer a value stands for, or None for a C expression we do not evaluate."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    match = _INT_LITERAL.fullmatch(value.strip())
    return int(match.group(1).replace(" ", ""), 0) if match else None


def suggest(name: str, known: Iterable[str]) -> str:
    """ "; did you mean X?" for an unknown option name, or ""."""
    close = difflib.get_close_matches(name, sorted(known), n=5, cutoff=0.6)
    # a transposition (TCP_MLS) is the likeliest typo: prefer a same-letters candidate
    same_letters = [c for c in close if sorted(c) == sorted(name)]
    best = (same_letters or close)[:1]
    return f"; did you mean {best[0]}?" if best else ""


def _range(name: str, kind: str, options: Mapping[str, OptionValue]) -> tuple[int, int, str]:
    if kind == "flag":
        return 0, 1, "a 0/1 switch"
    if name in WINDOWS:
        scale = _as_int(options.get("LWIP_WND_SCALE", 0))
        if scale:
            return 1, SCALED_WINDOW, "tcpwnd_size_t with LWIP_WND_SCALE"
        return 1, 0xFFFF, "u16_t tcpwnd_size_t without LWIP_WND_SCALE"
    if name.startswith("MEMP_NUM_"):
        return *U16, "u16_t num in memp_desc"
    return RANGES.get(name, (0, 0xFFFFFFFF, "no negative sizes or counts"))


def check_options(release: str, options: Mapping[str, OptionValue]) -> list[str]:
    """Problems with lwipopts `options` for lwIP `release`, each "NAME: problem"; [] if fine."""
    if release not in _data():
        return [f"lwIP release {release!r} unknown (known: {', '.join(releases())})"]
    known = option_kinds(release)
    problems = []
    for name, value in options.items():
        kind = known.get(name)
        if kind is None:
            problems.append(
                f"{name}: unknown lwIP option (not in lwIP {release} opt.h or tcp_priv.h)"
                f"{suggest(name, known)}"
            )
            continue
        number = _as_int(value)
        if number is None:
            continue
        low, high, why = _range(name, kind, options)
        if not low <= number <= high:
            problems.append(f"{name}: must be in {low}..{high} ({why}), got {value}")
    return problems
