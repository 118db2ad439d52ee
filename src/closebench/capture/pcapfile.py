"""Read pcap / pcapng files in chunks of raw frames, as numpy arrays.

Classic pcap goes through pcap_records (no scapy, frames not copied). pcapng is parsed
by scapy's RawPcapNgReader (kept library, ~0.5 M records/s here); we only copy the first
HEAD_BYTES of each frame into one contiguous buffer per chunk so that header fields can be
decoded with numpy.
Damage is reported, never hidden: a cut-off last record becomes a warning with the byte
offset; a damaged record (a length no capture can have, a broken pcapng block) is a
UserError with its byte offset, as tshark calls such a file damaged, unless the caller
allows damage (then the records before it are analysed and a warning says where it stopped);
a file that is not a capture at all, or of a link type we cannot decode, is a UserError.
"""

from __future__ import annotations

import logging
import os
import stat
import struct
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
# Wireshark's limit for a record (WTAP_MAX_PACKET_SIZE_STANDARD): a longer one makes tshark
# call the file damaged ("File has N-byte packet, bigger than maximum of 262144").
MAX_RECORD = 262144
# Wireshark's pcapng MAX_BLOCK_SIZE: a longer block length is damage, not a cut file.
MAX_BLOCK = 134348832

# Link types headers.py understands, and names for the usual foreign ones (pcap-linktype(7)).
SUPPORTED_LINKTYPES = frozenset({0, 1, 12, 14, 101, 108, 113, 228, 229, 276})
LINKTYPE_NAMES = {
    0: "NULL",
    1: "ETHERNET",
    9: "PPP",
    101: "RAW",
    105: "IEEE802_11",
    108: "LOOP",
    113: "LINUX_SLL",
    127: "IEEE802_11_RADIOTAP",
    147: "USER0",
    187: "BLUETOOTH_HCI_H4",
    192: "PPI",
    195: "IEEE802_15_4_WITHFCS",
    201: "BLUETOOTH_HCI_H4_WITH_PHDR",
    220: "USB_LINUX_MMAPPED",
    228: "IPV4",
    229: "IPV6",
    249: "USBPCAP",
    253: "NETLINK",
    276: "LINUX_SLL2",
}


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
    allow_damaged: bool = False  # damaged record: warn and stop instead of an error
    size: int = 0  # file bytes
    position: int = 0  # bytes read so far (for progress)

    def damaged(self, path: Path, offset: int, why: str) -> None:
        """A record tshark would call damaged: an error, or a warning if allowed."""
        where = f"capture damaged at byte {offset} of {self.size} ({why})"
        if not self.allow_damaged:
            raise UserError(
                f"{path}: {where}; --allow-damaged analyses the {self.records} records before it"
            )
        self.warnings.append(f"{where}; analysed the {self.records} records before it")


def linktype_name(linktype: int) -> str:
    name = LINKTYPE_NAMES.get(linktype)
    return f"{linktype} ({name})" if name else str(linktype)


def unsupported_linktype(path: Path, linktype: int) -> UserError:
    return UserError(
        f"{path}: link type {linktype_name(linktype)} is not supported "
        "(Ethernet, Linux cooked, raw IP and loopback captures are)"
    )


def check_capture_path(path: Path) -> int:
    """The file's size; a one-line error for a missing file, a folder, a FIFO or a device."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UserError(f"{path}: no such capture file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read capture file ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"{path}: is a folder, not a capture file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device or special file"
        raise UserError(f"{path}: is {kind}, not a capture file (analyze reads a saved capture)")
    return st.st_size


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
    size = report.size = check_capture_path(path)
    # scapy logs "packet has been truncated" itself; we report it with an offset instead.
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    with open(path, "rb") as fh:
        magic = fh.read(4)
        if magic in PCAP_MAGICS:
            from closebench.capture.pcap_records import iter_pcap_chunks  # (circular import)

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
                why = _pcapng_damage(fh, record_start, size, getattr(reader, "endian", "<"))
                if why:
                    report.damaged(path, record_start, why)
                fh.seek(record_start)  # a partial record header was consumed: report it
                break
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
            heads.append(data[:HEAD_BYTES])
            ts.append(stamp)
            lts.append(lt)
            report.records += 1
            if len(heads) >= chunk_size:
                report.position = fh.tell()
                yield _pack(frame, heads, ts, lts)
                frame += len(heads)
                heads, ts, lts = [], [], []
        end = fh.tell()
        if end < size and not any("truncated" in w or "damaged" in w for w in report.warnings):
            report.warnings.append(
                f"capture truncated: {size - end} trailing bytes at byte {end} of {size} "
                "do not form a complete record (capture cut while writing?)"
            )
        report.position = end
        if heads:
            yield _pack(frame, heads, ts, lts)


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
