"""After the load: wait until neither stack can still send anything on its own.

Used by a cell whose cooldown is "until quiet" (the seed study): the capture runs until the
last connection has gone quiet, whatever its timers, and at most the cell's cooldown (for the
seed: Linux's own retry budget, closebench.seed.timers). Two real signals, polled:
- Linux (this process runs in the client namespace): /proc/net/tcp lists the namespace's
  sockets; one toward the device in a state with a retransmission timer (SYN_SENT,
  ESTABLISHED, FIN_WAIT1, CLOSE_WAIT, LAST_ACK, CLOSING) may still send. TIME_WAIT and
  FIN_WAIT2 send nothing unprompted (include/net/tcp_states.h numbers the states).
- the device: its timeline (device.csv, flushed on every tick row) counts PCBs per state; one
  in SYN_RCVD, ESTABLISHED, FIN_WAIT_1, CLOSE_WAIT, CLOSING or LAST_ACK may still send.
  A bridge-mode device (the Linux reference) has no stack columns: its server runs in a
  namespace this process cannot read, so only the client side is watched there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

# include/net/tcp_states.h: TCP_ESTABLISHED = 1, SYN_SENT 2, FIN_WAIT1 4, CLOSE_WAIT 8,
# LAST_ACK 9, CLOSING 11 (as /proc/net/tcp prints them, in hex)
LINUX_SENDING_STATES = frozenset({0x01, 0x02, 0x04, 0x08, 0x09, 0x0B})
DEVICE_SENDING_COLUMNS = ("syn_rcvd", "established", "fin_wait_1", "close_wait", "closing",
                          "last_ack")  # fmt: skip
POLL_S = 0.5
QUIET_POLLS = 2  # two polls in a row: one tick of the device's timeline lies between them


@dataclass
class QuietResult:
    quiet: bool  # False: the limit came first
    waited_s: float
    linux_busy: int  # at the end
    device_busy: int


def _hex_ip(ip: str) -> str:
    """/proc/net/tcp's address form: the IPv4 bytes in host (little-endian) order, hex."""
    return "".join(f"{int(part):02X}" for part in reversed(ip.split(".")))


def linux_busy(device_ip: str, proc_file: Path = Path("/proc/net/tcp")) -> int:
    """Sockets of this namespace toward the device that may still send."""
    want = _hex_ip(device_ip)
    busy = 0
    for line in proc_file.read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        remote, state = fields[2].split(":")[0], int(fields[3], 16)
        if remote == want and state in LINUX_SENDING_STATES:
            busy += 1
    return busy


def device_busy(timeline: Path) -> int:
    """PCBs of the device that may still send, from the timeline's last complete row."""
    try:
        text = timeline.read_text()
    except OSError:
        return 0
    lines = text.splitlines()
    if len(lines) < 2:
        return 0
    header = lines[0].split(",")
    last = lines[-1] if text.endswith("\n") else lines[-2] if len(lines) > 2 else ""
    row = dict(zip(header, last.split(","), strict=False))
    return sum(int(row[c]) for c in DEVICE_SENDING_COLUMNS if row.get(c, "").isdigit())


def wait_until_quiet(device_ip: str, timeline: Path, limit_s: float) -> QuietResult:
    """Poll both sides until neither may send (QUIET_POLLS in a row), or `limit_s` passes."""
    start = time.monotonic()
    calm = 0
    lin = dev = 0
    while (waited := time.monotonic() - start) < limit_s:
        lin, dev = linux_busy(device_ip), device_busy(timeline)
        calm = calm + 1 if lin == 0 and dev == 0 else 0
        if calm >= QUIET_POLLS:
            return QuietResult(True, round(waited, 3), lin, dev)
        time.sleep(min(POLL_S, max(0.0, limit_s - waited)))
    return QuietResult(False, round(time.monotonic() - start, 3), lin, dev)
