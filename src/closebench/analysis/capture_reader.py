"""Read pcap / pcapng files in chunks of raw frames, as numpy arrays.

Classic pcap goes through pcap_blocks (no scapy, frames not copied). pcapng is parsed
by scapy's RawPcapNgReader (kept library, ~0.5 M records/s here); we only copy the first
HEAD_BYTES of each frame into one contiguous buffer per chunk so that header fields can be
decoded with numpy.
Damage is reported, never hidden: a cut-off last record becomes a warning with the byte
offset, a file that is not a capture at all becomes a UserError.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from closebench.errors import UserError

# Enough for link header (<= 24 B with two VLAN tags / SLL2) + IPv6 with a few extension
# headers + the fixed TCP header; payload length comes from the IP header, not caplen.
HEAD_BYTES = 192
DEFAULT_CHUNK = 65536

PCAP_MAGICS = {b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1"}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


@dataclass
class RawChunk:
    """A chunk of frames: heads packed in `buf` at `offsets`, `caplen` bytes each."""

    first_frame: int  # 1-based frame number of the first record (tshark's frame.number)
    ts: np.ndarray  # float64 epoch seconds
    linktype: np.ndarray  # int32 per frame (pcapng interfaces may differ)
    # uint8, padded at the end so fixed-offset gathers never overrun. Classic pcap: the
    # reader's block buffer, overwritten by the next block (decode a chunk before the next).
    buf: np.ndarray
    offsets: np.ndarray  # int64 start of each frame head in buf
    caplen: np.ndarray  # int32 bytes of the frame head available in buf

    def __len__(self) -> int:
        return len(self.ts)


@dataclass
class ReadReport:
    """What the reader noticed about the file as a whole."""

    records: int = 0
    warnings: list[str] = field(default_factory=list)


def _open_reader(fh: BinaryIO, path: Path) -> tuple[Any, bool]:
    from scapy.utils import RawPcapNgReader, RawPcapReader  # slow import: only when used

    magic = fh.read(4)
    if len(magic) == 0:
        raise UserError(f"{path}: empty file (0 bytes), not a capture")
    if magic in PCAP_MAGICS:
        cls, is_ng = RawPcapReader, False
    elif magic == PCAPNG_MAGIC:
        cls, is_ng = RawPcapNgReader, True
    else:
        raise UserError(
            f"{path}: not a pcap or pcapng file (magic bytes {magic.hex()}); "
            "write captures with tcpdump -w or Wireshark"
        )
    try:
        # Bypass scapy's metaclass (it reopens by name); we own the handle to know offsets.
        reader = object.__new__(cls)
        reader.__init__(str(path), fh, magic)
        return reader, is_ng
    except Exception as exc:  # scapy raises its own exception types for broken headers
        raise UserError(f"{path}: unreadable capture header ({exc})") from None


def iter_chunks(
    path: Path, report: ReadReport, chunk_size: int = DEFAULT_CHUNK
) -> Iterator[RawChunk]:
    """Yield RawChunk objects; append problems to `report.warnings`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such capture file")
    size = os.path.getsize(path)
    # scapy logs "packet has been truncated" itself; we report it with an offset instead.
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    with open(path, "rb") as fh:
        magic = fh.read(4)
        if magic in PCAP_MAGICS:
            from closebench.analysis.pcap_blocks import iter_pcap_chunks  # (circular import)

            for block in iter_pcap_chunks(fh, path, magic, size, report):
                yield from _split(block, chunk_size)
            return
        fh.seek(0)
        reader, is_ng = _open_reader(fh, path)
        linktype_default = getattr(reader, "linktype", 1)
        frame = 1
        heads: list[bytes] = []
        ts: list[float] = []
        lts: list[int] = []
        while True:
            record_start = fh.tell()
            try:
                item = reader._read_packet()
            except EOFError:
                fh.seek(record_start)  # a partial record header was consumed: report it
                break
            except Exception as exc:  # corrupt block structure inside a pcapng
                report.warnings.append(
                    f"capture damaged at byte {record_start} of {size} ({exc}); "
                    f"analysed the {report.records} records before it"
                )
                break
            if item is None:
                continue
            data, meta = item
            if is_ng:
                stamp = ((meta.tshigh << 32) | meta.tslow) / meta.tsresol
                lt = meta.linktype
                expected = len(data)
            else:
                frac = 1e9 if reader.nano else 1e6
                stamp = meta.sec + meta.usec / frac
                lt = linktype_default
                expected = min(meta.caplen, 0xFFFF)
            if len(data) < expected:
                report.warnings.append(
                    f"capture truncated: record at byte {record_start} of {size} is cut "
                    f"({len(data)} of {meta.caplen} bytes); analysed the "
                    f"{report.records} complete records before it"
                )
                break
            heads.append(data[:HEAD_BYTES])
            ts.append(stamp)
            lts.append(lt)
            report.records += 1
            if len(heads) >= chunk_size:
                yield _pack(frame, heads, ts, lts)
                frame += len(heads)
                heads, ts, lts = [], [], []
        end = fh.tell()
        if end < size and not any("truncated" in w or "damaged" in w for w in report.warnings):
            report.warnings.append(
                f"capture truncated: {size - end} trailing bytes at byte {end} of {size} "
                "do not form a complete record (capture cut while writing?)"
            )
        if heads:
            yield _pack(frame, heads, ts, lts)


def _split(chunk: RawChunk, size: int) -> Iterator[RawChunk]:
    """About `size` frames per chunk; the slices share the block buffer (no copy).

    A remainder below size / 4 joins the last chunk (at most 1.25 * size frames). Why: a
    block of the bench capture held 265 k records, and the 2.8 k-record tail chunk cost
    as many lockstep steps as a full chunk (~7, one per packet of a connection) plus the
    fixed per-chunk work (estimated ~4 ms per tail chunk from the per-step cost).
    """
    n = len(chunk)
    cuts = list(range(0, n, size)) or [0]
    if len(cuts) > 1 and n - cuts[-1] < size // 4:
        cuts.pop()
    for lo, hi in zip(cuts, [*cuts[1:], n], strict=True):
        yield RawChunk(
            first_frame=chunk.first_frame + lo,
            ts=chunk.ts[lo:hi],
            linktype=chunk.linktype[lo:hi],
            buf=chunk.buf,
            offsets=chunk.offsets[lo:hi],
            caplen=chunk.caplen[lo:hi],
        )


def _pack(first_frame: int, heads: list[bytes], ts: list[float], lts: list[int]) -> RawChunk:
    lengths = np.fromiter((len(h) for h in heads), dtype=np.int32, count=len(heads))
    offsets = np.zeros(len(heads), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    # Padding lets decode gather fixed offsets without bounds checks; caplen masks them.
    buf = np.frombuffer(b"".join(heads) + bytes(HEAD_BYTES), dtype=np.uint8)
    return RawChunk(
        first_frame=first_frame,
        ts=np.asarray(ts, dtype=np.float64),
        linktype=np.asarray(lts, dtype=np.int32),
        buf=buf,
        offsets=offsets,
        caplen=lengths,
    )
