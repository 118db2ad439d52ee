"""What a capture reader hands on: chunks of raw frames, the reader's report, its limits.

Shared by the classic-pcap block reader (pcap_records), the general record reader (pcapfile)
and the header decoders (headers, fast_headers), so none of them imports another's internals.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from closebench.errors import UserError

# Enough for link header (<= 24 B with two VLAN tags / SLL2) + IPv6 with a few extension
# headers + the fixed TCP header; payload length comes from the IP header, not caplen.
HEAD_BYTES = 192
DEFAULT_CHUNK = 65536

PCAP_MAGICS = {b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1"}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
# The header versions libpcap reads (measured with tcpdump 4.99.3 / libpcap 1.10.3 as the
# oracle): classic pcap 2.0 to 2.4 ("unsupported pcap savefile version 2.5"; 1.x is "archaic")
# and DG/UX's 543.0; pcapng sections 1.0 and 1.2, the pcapng versions tshark 4.0 reads too
# (tshark is laxer on classic pcap: it read a version 99.4 header).
PCAP_VERSIONS = {(2, minor) for minor in range(5)} | {(543, 0)}
PCAPNG_VERSIONS = {(1, 0), (1, 2)}
PCAPNG_BYTE_ORDER = {b"\x1a\x2b\x3c\x4d": ">", b"\x4d\x3c\x2b\x1a": "<"}
# Wireshark's limit for a record (WTAP_MAX_PACKET_SIZE_STANDARD): a longer one makes tshark
# call the file damaged ("File has N-byte packet, bigger than maximum of 262144").
MAX_RECORD = 262144
# Wireshark's pcapng MAX_BLOCK_SIZE: a longer block length is damage, not a cut file.
MAX_BLOCK = 134348832


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


def check_pcap_version(path: Path, major: int, minor: int) -> None:
    """A one-line refusal of a classic pcap header libpcap would not read."""
    if (major, minor) not in PCAP_VERSIONS:
        raise UserError(
            f"{path}: unsupported pcap version {major}.{minor} in the file header "
            "(libpcap reads 2.0 to 2.4)"
        )


def check_pcapng_section(path: Path, offset: int, header: bytes) -> None:
    """A one-line refusal of a pcapng section header (`header`: its first 16 bytes) of a
    version libpcap and tshark would not read; a header too short or of an unknown byte
    order is left to the reader's damage check."""
    endian = PCAPNG_BYTE_ORDER.get(header[8:12])
    if len(header) < 16 or endian is None:
        return
    major, minor = struct.unpack(endian + "HH", header[12:16])
    if (major, minor) not in PCAPNG_VERSIONS:
        raise UserError(
            f"{path}: unsupported pcapng version {major}.{minor} in the section header at "
            f"byte {offset} (libpcap and tshark read 1.0 and 1.2)"
        )
