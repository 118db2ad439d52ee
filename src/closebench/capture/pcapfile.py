"""Read pcap / pcapng files in chunks of raw frames, as numpy arrays.

Classic pcap goes through pcap_records (no scapy, frames not copied). pcapng is parsed
by scapy's RawPcapNgReader (a library; the bench writes classic pcap); we only copy the first
HEAD_BYTES of each frame into one contiguous buffer per chunk so that header fields can be
decoded with numpy.
Damage is reported, never hidden: a cut-off last record becomes a warning with the byte
offset; a damaged record (a length no capture can have, a broken pcapng block) is a
UserError with its byte offset, as tshark calls such a file damaged, unless the caller
allows damage (then the records before it are analysed and a warning says where it stopped);
a file that is not a capture at all, or of a link type we cannot decode, is a UserError.
"""

from __future__ import annotations

import functools
import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from closebench.capture.chunk import (
    DEFAULT_CHUNK,
    HEAD_BYTES,
    MAX_BLOCK,
    PCAP_MAGICS,
    PCAPNG_MAGIC,
    RawChunk,
    ReadReport,
    check_capture_path,
    check_pcap_version,
    check_pcapng_section,
)
from closebench.capture.pcap_records import iter_pcap_chunks
from closebench.errors import UserError


def _open_reader(fh: BinaryIO, path: Path) -> tuple[Any, bool]:
    from scapy.utils import RawPcapNgReader, RawPcapReader  # slow import: only when used

    magic = fh.read(4)
    if len(magic) == 0:
        raise UserError(f"{path}: empty file (0 bytes), not a capture")
    if magic in PCAP_MAGICS:
        cls, is_ng = RawPcapReader, False
        _check_header_version(fh, path, magic)
    elif magic == PCAPNG_MAGIC:
        cls, is_ng = _version_checked(RawPcapNgReader), True
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
    except UserError:
        raise
    except Exception as exc:  # scapy raises its own exception types for broken headers
        raise UserError(f"{path}: unreadable capture header ({exc})") from None


def _check_header_version(fh: BinaryIO, path: Path, magic: bytes) -> None:
    """Refuse a classic pcap header of a version libpcap refuses (scapy reads any)."""
    versions = fh.read(4)
    fh.seek(4)
    if len(versions) == 4:
        endian = ">" if magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d") else "<"
        check_pcap_version(path, *struct.unpack(endian + "HH", versions))


@functools.cache
def _version_checked(reader_cls: type) -> type:
    """scapy's pcapng reader, refusing every section (the first and any later one) of a
    version libpcap and tshark refuse: scapy checks only the major version, and at a later
    section it ends the file quietly."""

    class VersionCheckedPcapNgReader(reader_cls):  # type: ignore[misc, valid-type]
        def _read_block_shb(self) -> None:
            start = self.f.tell() - 4  # the block type (the file's magic) is already read
            header = PCAPNG_MAGIC + self.f.read(12)
            self.f.seek(start + 4)
            check_pcapng_section(Path(self.filename), start, header)
            super()._read_block_shb()

    return VersionCheckedPcapNgReader


@dataclass(frozen=True)
class Record:
    """One captured frame, whole."""

    ts: float  # epoch seconds
    linktype: int
    data: bytes


def iter_records(path: Path, report: ReadReport | None = None) -> Iterator[Record]:
    """Every record of a classic pcap or pcapng file with its whole frame, under the same
    damage rules as iter_chunks (a cut last record ends the file with a warning). For the
    counts and the report's excerpts; the analyzer reads chunks (iter_chunks)."""
    path = Path(path)
    report = report or ReadReport()
    size = report.size = check_capture_path(path)
    _quiet_scapy()
    with open(path, "rb") as fh:
        reader, is_ng = _open_reader(fh, path)
        yield from _read_records(fh, reader, is_ng, path, size, report)


def readable_records(path: Path) -> Iterator[Record]:
    """The records up to where the capture was cut or damaged, without an error for either:
    for counts and excerpts of a capture whose damage the analysis reports."""
    return iter_records(path, ReadReport(allow_damaged=True))


def iter_chunks(
    path: Path, report: ReadReport, chunk_size: int = DEFAULT_CHUNK
) -> Iterator[RawChunk]:
    """Yield RawChunk objects; append problems to `report.warnings`."""
    path = Path(path)
    size = report.size = check_capture_path(path)
    _quiet_scapy()
    with open(path, "rb") as fh:
        magic = fh.read(4)
        if magic in PCAP_MAGICS:
            for block in iter_pcap_chunks(fh, path, magic, size, report):
                yield from _split(block, chunk_size)
            return
        fh.seek(0)
        reader, is_ng = _open_reader(fh, path)
        frame = 1
        heads: list[bytes] = []
        ts: list[float] = []
        lts: list[int] = []
        for record in _read_records(fh, reader, is_ng, path, size, report):
            heads.append(record.data[:HEAD_BYTES])
            ts.append(record.ts)
            lts.append(record.linktype)
            if len(heads) >= chunk_size:
                report.position = fh.tell()
                yield _pack(frame, heads, ts, lts)
                frame += len(heads)
                heads, ts, lts = [], [], []
        if heads:
            yield _pack(frame, heads, ts, lts)


def _quiet_scapy() -> None:
    # scapy logs "packet has been truncated" itself; we report it with an offset instead.
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)


def _read_records(
    fh: BinaryIO, reader: Any, is_ng: bool, path: Path, size: int, report: ReadReport
) -> Iterator[Record]:
    """The records scapy's reader finds, checked for damage and cut ends like tshark does."""
    linktype_default = getattr(reader, "linktype", 1)
    while True:
        record_start = fh.tell()
        try:
            item = reader._read_packet()
        except EOFError:
            why = _pcapng_damage(fh, record_start, size, getattr(reader, "endian", "<"))
            if why:
                report.damaged(path, record_start, why)
            fh.seek(record_start)  # a partial record header was consumed: report it
            break
        except UserError:
            raise
        except Exception as exc:  # corrupt block structure inside a pcapng
            report.damaged(path, record_start, " ".join(str(exc).split()))
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
        report.records += 1
        yield Record(stamp, lt, data)
    end = fh.tell()
    if end < size and not any("truncated" in w or "damaged" in w for w in report.warnings):
        report.warnings.append(
            f"capture truncated: {size - end} trailing bytes at byte {end} of {size} "
            "do not form a complete record (capture cut while writing?)"
        )
    report.position = end


def _pcapng_damage(fh: BinaryIO, start: int, size: int, endian: str) -> str | None:
    """Why the pcapng block at `start` is damaged, or None if it is only cut by the file end.

    scapy ends the file quietly (EOFError) on both; tshark calls the first damaged."""
    fh.seek(start)
    head = fh.read(8)
    if len(head) < 8:
        return None
    length = struct.unpack(endian + "I", head[4:])[0]
    if length < 12 or length % 4 or length > MAX_BLOCK:
        return f"pcapng block length {length} is invalid"
    if start + length > size:
        return None
    fh.seek(start + length - 4)
    if struct.unpack(endian + "I", fh.read(4))[0] != length:
        return f"pcapng block length {length} differs from the length at the block's end"
    return None


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
