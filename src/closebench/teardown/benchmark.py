"""Throughput and peak memory of the analyzer vs tshark's field export, same file.

Each side runs in its own child process; peak RSS is the child's ru_maxrss from wait4(),
so the parent's own memory never pollutes the figure.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from closebench.errors import UserError

TSHARK_FIELDS = ("tcp.stream", "tcp.flags", "frame.time_epoch", "tcp.analysis.retransmission")


def _measure(cmd: list[str], keep_stdout: bool = False) -> dict[str, Any]:
    start = time.perf_counter()
    # stderr to a file, not a pipe: a chatty child cannot block on a full pipe before wait4.
    with tempfile.TemporaryFile() as err_fh:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE if keep_stdout else subprocess.DEVNULL, stderr=err_fh
        )
        out = proc.stdout.read() if proc.stdout else b""  # until the child closes it
        # wait4, not wait(): the child's own ru_maxrss, not the max over all children.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.stdout:
            proc.stdout.close()
        err_fh.seek(0)
        err = err_fh.read().decode(errors="replace")
    if proc.returncode != 0:
        raise UserError(f"benchmark command failed: {' '.join(cmd[:3])}...: {err.strip()[:300]}")
    return {"seconds": wall, "peak_rss_mb": usage.ru_maxrss / 1024.0, "stdout": out}


# Child: time of analyze_capture alone (after imports), printed as the last JSON line.
OURS_CODE = (
    "import sys, json, time; from closebench.teardown import analyze_capture; "
    "t = time.perf_counter(); r = analyze_capture(sys.argv[1]); "
    "print(json.dumps([r.packets, len(r.connections), time.perf_counter() - t]))"
)


def run(pcap: Path) -> dict[str, Any]:
    """Figures for `closebench perf`: top-level numbers go to its table.

    ours_packets_per_s_analysis: analyze_capture alone; ours_packets_per_s_process: the
    whole child process incl. interpreter start and imports (~1 s of numpy/pandas/scapy);
    ratio: whole-process packets/s over tshark's (field export to /dev/null, same file).
    """
    pcap = Path(pcap)
    if not pcap.is_file():
        raise UserError(f"{pcap}: no such capture file")
    ours = _measure([sys.executable, "-c", OURS_CODE, str(pcap)], keep_stdout=True)
    records, conns, analysis_s = json.loads(ours.pop("stdout").decode().strip().splitlines()[-1])
    packets = int(records)
    result: dict[str, Any] = {
        "pcap": str(pcap),
        "packets": packets,
        "connections": int(conns),
        "ours": {
            **ours,
            "analysis_seconds": analysis_s,
            "packets_per_s": packets / ours["seconds"],
            "packets_per_s_analysis": packets / analysis_s,
        },
        "ours_packets_per_s_analysis": packets / analysis_s,
        "ours_packets_per_s_process": packets / ours["seconds"],
        "ours_peak_rss_mb": ours["peak_rss_mb"],
    }
    cmd = ["tshark", "-n", "-r", str(pcap), "-T", "fields"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    try:
        theirs = _measure(cmd)
    except FileNotFoundError:
        result["tshark"] = None
        result["ratio"] = None
        return result
    theirs.pop("stdout")
    result["tshark"] = {**theirs, "packets_per_s": packets / theirs["seconds"]}
    result["tshark_seconds"] = theirs["seconds"]
    result["ratio"] = result["ours"]["packets_per_s"] / result["tshark"]["packets_per_s"]
    result["ratio_analysis"] = packets / analysis_s / result["tshark"]["packets_per_s"]
    return result


def count_records(pcap: Path) -> int:
    from closebench.capture.chunk import ReadReport
    from closebench.capture.pcapfile import iter_chunks

    report = ReadReport()
    for _ in iter_chunks(pcap, report):
        pass
    return report.records


def write_synthetic_pcap(path: Path, connections: int, seed: int = 1) -> int:
    """A large classic pcap of short HTTP-like connections (client 198.18.0.1 -> device .2).

    Template: SYN, SYN-ACK, ACK, request, ACK+response, device FIN, client FIN, last ACK
    (8 packets). Ports cycle through 28k ephemeral values so port reuse (stream splits)
    happens as on the bench; ~1 in 50 connections gets a duel of FIN retransmissions.
    """
    rng = np.random.default_rng(seed)
    eth = bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + b"\x08\x00"

    def pkt(c2d: bool, sport: int, seq: int, ack: int, flags: int, payload: int) -> bytes:
        src, dst = (0xC6120001, 0xC6120002) if c2d else (0xC6120002, 0xC6120001)
        tcp = struct.pack(
            "!HHIIBBHHH",
            sport if c2d else 80,
            80 if c2d else sport,
            seq & 0xFFFFFFFF,
            ack & 0xFFFFFFFF,
            5 << 4,
            flags,
            65535,
            0,
            0,
        )
        ip = struct.pack("!BBHHHBBHII", 0x45, 0, 40 + payload, 0, 0x4000, 64, 6, 0, src, dst)
        return eth + ip + tcp + bytes(payload)

    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    t = 1_700_000_000.0
    n = 0
    for i in range(connections):
        sport = 32768 + (i % 28000)
        c, d = int(rng.integers(1, 2**31)), 6510 + 2 * i
        seqs = [
            (True, c, 0, 0x02, 0),
            (False, d, c + 1, 0x12, 0),
            (True, c + 1, d + 1, 0x10, 0),
            (True, c + 1, d + 1, 0x18, 60),
            (False, d + 1, c + 61, 0x18, 200),
            (False, d + 201, c + 61, 0x11, 0),
            (True, c + 61, d + 202, 0x11, 0),
            (False, d + 202, c + 62, 0x10, 0),
        ]
        if i % 50 == 7:  # a duel: the device retransmits its FIN, the client keeps ACKing
            seqs = (
                seqs[:6] + [(False, d + 201, c + 61, 0x11, 0), (True, c + 61, d + 202, 0x10, 0)] * 3
            )
        for c2d, seq, ack, flags, payload in seqs:
            frame = pkt(c2d, sport, seq, ack, flags, payload)
            t += 0.0002
            sec = int(t)
            out += struct.pack("<IIII", sec, int((t - sec) * 1e6), len(frame), len(frame))
            out += frame
            n += 1
        if len(out) > 1 << 24:
            with open(path, "ab") as fh:
                fh.write(out)
            out = bytearray()
    with open(path, "ab") as fh:
        fh.write(out)
    return n


def main() -> None:
    """`python -m closebench.teardown.benchmark FILE [--make N]`"""
    path = Path(sys.argv[1])
    if len(sys.argv) > 3 and sys.argv[2] == "--make":
        path.unlink(missing_ok=True)
        print("packets written:", write_synthetic_pcap(path, int(sys.argv[3])))
    print(json.dumps(run(path), indent=2))


if __name__ == "__main__":
    main()
