"""Offsets of the classic-pcap records in a block, found with numpy instead of a loop.

Why: the records of a pcap form a chain (each header's incl_len gives the next offset), so
the plain walk is one Python iteration per record. Here the chain is guessed and then
checked, both vectorised (what it saves: docs/performance.md):

1. Candidates: every byte position whose two high timestamp bytes (seconds >> 16) equal
   those of the block's first record, or one more (the clock crossing a 18-hour mark).
   Timestamps of one capture rarely differ there, so this finds nearly every record and
   few false positions.
2. Links: for each candidate, next = offset + 16 + incl_len. A run of candidates in which
   each one's `next` is the following candidate is a stretch of the true chain as soon
   as its first element is a true record, which the walk makes sure of.
3. The walk jumps from run to run; where the chain leaves the candidates (a false
   candidate in between, or a record with an unexpected timestamp), it steps one record
   at a time like the plain walk until it meets a candidate again.

The result is the plain walk's exactly, whatever the data: the guesses only decide how
many records take the slow single step.
"""

from __future__ import annotations

import numpy as np

HEADER = 16


def u32_at(buf: np.ndarray, endian: str) -> np.ndarray:
    """A uint32 view of `buf` starting at every byte (unaligned; no copy)."""
    n = max(len(buf) - 3, 0)
    return np.ndarray(shape=(n,), dtype=endian + "u4", buffer=buf, strides=(1,))


def walk_records(buf: np.ndarray, end: int, endian: str) -> np.ndarray:
    """int64 offsets of the complete records in buf[:end]; buf[0] starts a record."""
    limit = end - HEADER  # the last offset whose header is inside buf[:end]
    if limit < 0:
        return np.zeros(0, dtype=np.int64)
    u32 = u32_at(buf[:end], endian)
    cand = _candidates(buf, limit, endian)
    nxt = cand + HEADER + u32[cand + 8].astype(np.int64)
    # Run ends: candidates whose `next` is not the following candidate.
    breaks = np.flatnonzero(nxt[:-1] != cand[1:])
    breaks = np.append(breaks, len(cand) - 1)

    pieces: list[np.ndarray] = []
    single: list[int] = []  # records stepped one at a time, flushed before each run
    pos = 0
    k = 0  # index of the first candidate >= pos
    n_cand = len(cand)
    while pos <= limit:
        if k < n_cand and cand[k] == pos:
            r = int(breaks[np.searchsorted(breaks, k)])
            last_next = int(nxt[r])
            stop = last_next > end  # the run's last record is cut by the block end
            if single:
                pieces.append(np.array(single, dtype=np.int64))
                single = []
            pieces.append(cand[k : r if stop else r + 1])
            if stop:
                break
            pos = last_next
            k = int(np.searchsorted(cand, pos))
            continue
        step = pos + HEADER + int(u32[pos + 8])
        if step > end:
            break
        single.append(pos)
        pos = step
        while k < n_cand and cand[k] < pos:
            k += 1
    if single:
        pieces.append(np.array(single, dtype=np.int64))
    if not pieces:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(pieces)


def _candidates(buf: np.ndarray, limit: int, endian: str) -> np.ndarray:
    """Positions 0..limit whose timestamp's high 16 bits match the first record's (or +1)."""
    top, second = (0, 1) if endian == ">" else (3, 2)
    # One byte compare over the block first (cheap), then the second byte on the hits only.
    hits = np.flatnonzero(buf[top : top + limit + 1] == buf[top])
    near = (buf[hits + second] - buf[second]).astype(np.uint8) <= 1
    return hits[near].astype(np.int64)
