"""Which source line sent each device packet: the device program's --trace-tx trace point.

The exact-source build of the Espressif lwIP 1.4 fork (firmware_variants/device/exact/
espressif-lwip14/stack14.c) writes, for every TCP frame the device sends, its ports, seq, ack
and flags and the return addresses on the output path. addr2line (binutils) on the same binary
(built with -g) turns them into the fork's functions and lines, e.g. "tcp_rst
(app/lwip/core/tcp_out.c:NNN) <- tcp_input (app/lwip/core/tcp_in.c:NNN)". Only frames inside the
firmware's own tree are named; the IP and Ethernet output plumbing below TCP is left out.
Other builds write no trace: their packets carry no source line.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import defaultdict
from pathlib import Path

TRACE_FILE = "device-tx-trace.txt"
# The fork's tree as the build unpacks it: sources/trees/<owner>+<name>@<commit>/<path>
TREE_PATH = re.compile(r"/([A-Za-z0-9_.-]+)\+([A-Za-z0-9_.-]+)@([0-9a-f]{40})/(.+)$")
PLUMBING = ("/core/ipv4/", "/netif/")  # IP and Ethernet output: below the TCP decision
DEPTH = 6  # callers named per packet: deep enough to reach espconn from tcp_output
ET_DYN = 3  # ELF e_type of a position-independent executable

Key = tuple[int, int, int, int]  # client port, seq, ack, TCP flags


def _is_pie(binary: Path) -> bool:
    head = binary.read_bytes()[:18]
    return len(head) == 18 and int.from_bytes(head[16:18], "little") == ET_DYN


def _symbolize(binary: Path, addrs: list[int]) -> dict[int, list[tuple[str, str]]]:
    """addr2line -a -f -i for every address: (function, file:line) frames, inlined ones first."""
    text = "\n".join(f"{a:x}" for a in addrs)
    argv = ["addr2line", "-a", "-f", "-i", "-e", str(binary)]
    out = subprocess.run(
        argv, input=text, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    frames: dict[int, list[tuple[str, str]]] = {}
    current: list[str] = []
    for line in [*out.splitlines(), "0x"]:
        if line.startswith("0x"):
            if current:
                addr = int(current[0], 16)
                rest = current[1:]
                frames[addr] = list(zip(rest[0::2], rest[1::2], strict=False))
            current = [line] if line != "0x" else []
        else:
            current.append(line)
    return frames


def _cite(func: str, where: str) -> str | None:
    m = TREE_PATH.search(where.split(" ")[0])
    if not m or any(p in where for p in PLUMBING):
        return None
    owner, name, commit, path = m.groups()
    return f"{func} ({owner}/{name}@{commit[:7]} {path})"


def tx_sources(cell_dir: Path) -> dict[Key, list[str]] | None:
    """Per device packet key, the source chains of the frames sent with it, in sending order;
    None when the cell has no trace."""
    trace = cell_dir / TRACE_FILE
    spec_path = cell_dir / "cell-spec.json"
    if not trace.is_file() or not spec_path.is_file():
        return None
    binary = Path(json.loads(spec_path.read_text())["device"]["binary"])
    lines = trace.read_text().splitlines()
    if not lines or not lines[0].startswith("base ") or not binary.is_file():
        return None
    base = int(lines[0].split()[1], 16) if _is_pie(binary) else 0
    rows = [[int(x) for x in ln.split()[:5]] + [int(a, 16) for a in ln.split()[5:]]
            for ln in lines[1:] if len(ln.split()) >= 5]  # fmt: skip
    # a return address points after the call: one byte back is the call's own line
    offsets = sorted({a - base - 1 for r in rows for a in r[5:]})
    frames = _symbolize(binary, offsets) if offsets else {}
    out: dict[Key, list[str]] = defaultdict(list)
    for r in rows:
        named = []
        for a in r[5:]:
            for func, where in frames.get(a - base - 1, []):
                cited = _cite(func, where)
                if cited and (not named or named[-1] != cited):
                    named.append(cited)
        _, dport, seq, ack, flags = r[:5]
        out[(dport, seq, ack, flags)].append(" <- ".join(named[:DEPTH]) or "outside the fork")
    return dict(out)
