"""Fast decode of the common frame: Ethernet II (untagged), IPv4 without options, TCP.

Why: the general decoder (headers.py) reads every field with per-byte gathers clipped to the
buffer. Here the first FAST_BYTES of each frame are copied as one row (a strided view of the
buffer indexed by frame offset, i.e. a memcpy per frame) and read through a big-endian
structured dtype (the two compared: docs/performance.md). Frames that are anything else
(VLAN, IPv6, options, fragments, cut, malformed, GRE ...) go through the general decoder
unchanged, so results are identical by design.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from closebench.capture.chunk import RawChunk
from closebench.capture.linktypes import LINK_ETHERNET

FAST_BYTES = 50  # Ethernet 14 + IPv4 20 + TCP up to the window field (16)
FAST = np.dtype(
    {
        "names": [
            *("etype", "vihl", "total", "frag", "proto", "src", "dst", "sport", "dport"),
            *("seq", "ack", "offflags", "win"),
        ],
        "formats": [
            *(">u2", "u1", ">u2", ">u2", "u1", ">u4", ">u4", ">u2", ">u2"),
            *(">u4", ">u4", ">u2", ">u2"),
        ],
        "offsets": [12, 14, 16, 20, 23, 26, 30, 34, 36, 38, 42, 46, 48],
        "itemsize": FAST_BYTES,
    }
)


def rows(buf: np.ndarray, offsets: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Copy `width` bytes at each offset (offsets too close to the end are clipped: `ok`)."""
    n = len(buf) - width + 1
    if n <= 0:
        return np.zeros((len(offsets), width), dtype=np.uint8), np.zeros(len(offsets), bool)
    view = as_strided(buf, shape=(n, width), strides=(buf.strides[0], buf.strides[0]))
    ok = offsets < n
    return view[np.where(ok, offsets, 0)], ok


def fast_rows(chunk: RawChunk) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(columns for Decoded, mask of frames the fast path decodes exactly).

    Columns are computed for every frame (the caller keeps the masked ones): endpoints as
    uint64 `(addr << 16) | port`, seq / ack / flags / win / plen as int64, the tracker's
    dtype. Fields only tested for the mask are cast to native types of their own width.
    """
    raw, ok = rows(chunk.buf, chunk.offsets, FAST_BYTES)
    rec = raw.view(FAST).ravel()
    # One cast per field: comparing the unaligned big-endian views directly is ~10x slower.
    offflags = rec["offflags"].astype(np.uint16)
    doff = (offflags >> 12).astype(np.int64) * 4
    plen = rec["total"].astype(np.int64) - 20 - doff
    fast = (
        ok
        & (chunk.linktype == LINK_ETHERNET)
        & (chunk.caplen >= 54)
        & (rec["etype"].astype(np.uint16) == 0x0800)
        & (rec["vihl"] == 0x45)
        & (rec["proto"] == 6)
        & ((rec["frag"].astype(np.uint16) & 0x3FFF) == 0)
        & (doff >= 20)
        & (plen >= 0)
    )
    u64, sh = np.uint64, np.uint64(16)
    cols = {
        "src": (rec["src"].astype(u64) << sh) | rec["sport"].astype(u64),
        "dst": (rec["dst"].astype(u64) << sh) | rec["dport"].astype(u64),
        "seq": rec["seq"].astype(np.int64),
        "ack": rec["ack"].astype(np.int64),
        "flags": (offflags & 0x0FFF).astype(np.int64),
        "win": rec["win"].astype(np.int64),
        "plen": plen,
    }
    return cols, fast
