"""Each hand-written part of the capture reader and analyzer against what it replaces, one run.

    python dev-tools/analyzer_parts.py [--connections 125000] [--repeat 3]

Writes a synthetic bench-like capture (closebench.teardown.benchmark, 8-14 packets per short
HTTP connection), then times, on the same data and in the same process, each part and its
plain or library alternative; prints a markdown table for docs/performance.md. Ratios, not
absolute times, are the point: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from closebench.capture.chunk import ReadReport
from closebench.capture.headers import AddressBook, _decode_general, decode_chunk
from closebench.capture.pcapfile import iter_chunks
from closebench.capture.record_offsets import walk_records
from closebench.teardown.benchmark import count_records, write_synthetic_pcap


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    """The fastest of `repeat` runs, in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def read_scapy(pcap: Path) -> int:
    from scapy.utils import RawPcapReader

    with RawPcapReader(str(pcap)) as reader:
        return sum(1 for _ in reader)


def walk_plain(buf: bytes, end: int) -> list[int]:
    """The chain of record offsets, one struct read per record (what walk_records replaces)."""
    offsets, pos = [], 0
    while pos + 16 <= end:
        incl = struct.unpack_from("<I", buf, pos + 8)[0]
        if pos + 16 + incl > end:
            break
        offsets.append(pos)
        pos += 16 + incl
    return offsets


def measure(pcap: Path, repeat: int) -> list[tuple[str, str, float, str, float, str]]:
    rows = []
    records = count_records(pcap)
    ours = best_of(repeat, lambda: count_records(pcap))
    theirs = best_of(1, lambda: read_scapy(pcap))
    rows.append(
        (
            "classic pcap records (pcap_records)",
            "ours",
            ours,
            "scapy RawPcapReader",
            theirs,
            f"{records / ours / 1e6:.2f} M records/s",
        )
    )

    raw = pcap.read_bytes()[24 : 24 + (24 << 20)]
    buf = np.frombuffer(raw + bytes(64), dtype=np.uint8)
    n = len(walk_records(buf, len(raw), "<"))
    assert n == len(walk_plain(raw, len(raw)))
    ours = best_of(repeat, lambda: walk_records(buf, len(raw), "<"))
    theirs = best_of(repeat, lambda: walk_plain(raw, len(raw)))
    rows.append(
        (
            "record offsets of a 24 MB block (record_offsets)",
            "numpy",
            ours,
            "struct loop",
            theirs,
            f"{n} records",
        )
    )

    chunk = next(iter_chunks(pcap, ReadReport()))
    ours = best_of(repeat, lambda: decode_chunk(chunk, AddressBook()))
    theirs = best_of(repeat, lambda: _decode_general(chunk, AddressBook()))
    rows.append(
        (
            "decode Ethernet/IPv4/TCP heads (fast_headers)",
            "fast path",
            ours,
            "general gathers",
            theirs,
            f"{len(chunk)} frames",
        )
    )

    labels = np.array(["SF", "S0", "REJ", "RSTO", "RSTR", "SH", "OTH", "S1", "S3"], dtype=object)
    codes = np.random.default_rng(1).integers(0, len(labels), size=1_000_000)
    ours = best_of(repeat, lambda: pd.Categorical.from_codes(codes, labels.astype(str)))
    theirs = best_of(repeat, lambda: pd.factorize(labels[codes]))
    rows.append(
        (
            "1 M-row string column (label_codes)",
            "codes",
            ours,
            "object strings + factorize",
            theirs,
            "9 labels",
        )
    )

    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=125_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp) / "synthetic.pcap"
        packets = write_synthetic_pcap(pcap, args.connections)
        rows = measure(pcap, args.repeat)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(
        f"synthetic capture: {args.connections} connections, {packets} packets; "
        f"best of {args.repeat}\n"
    )
    print("| part | ours | s | replaces | s | ratio | note |")
    print("|---|---|---|---|---|---|---|")
    for part, a, ta, b, tb, note in rows:
        print(f"| {part} | {a} | {ta:.3f} | {b} | {tb:.3f} | {tb / ta:.1f}x | {note} |")


if __name__ == "__main__":
    main()
