"""Connections of a capture, chunk by chunk: tshark stream split + lockstep analysis.

Stream splitting (tshark 4.0 `tcp.stream`): packets are grouped by unordered 4-tuple; a
pure SYN whose sequence number differs from the base sequence number already recorded for
that sender in the current connection starts a new connection (same ISN: retransmission,
same connection). Base sequence = the SYN's ISN, else seq - 1 of the first packet, else
ack - 1 of the first ACK from the peer, exactly as Wireshark sets `base_seq`. The split
points of a chunk are found before the lockstep (streams.py), so each connection gets its
own lane.

Memory is bounded by the number of distinct 4-tuples alive, not by the capture: state
lives in arrays indexed by a slot per 4-tuple; a connection that ends (port reuse or end
of capture) is turned into output columns right away (classify.py) and its state is reset.

Known limit: a chunk in which one connection has many more packets than the others runs
one lockstep step per packet of it, so a capture of a single bulk transfer is analysed far
more slowly than the bench's many short connections (docs/performance.md gives the per-step
cost).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from closebench.capture.headers import Decoded
from closebench.teardown.label_codes import Coded
from closebench.teardown.lockstep import (
    CONN_FIELDS,
    EP_FIELDS,
    FIN,
    LETTERS,
    SIDE_FIELDS,
    Packets,
    dtype_of,
    step,
)
from closebench.teardown.radix import stable_order as _stable_order
from closebench.teardown.streams import chunk_connections as _connections

K1 = np.uint64(0x9E3779B97F4A7C15)
MAX_ROW = 64  # history letters per connection decoded through the byte matrix


class Tracker:
    """Feed Decoded chunks in file order; finished connections come out as record dicts."""

    def __init__(self) -> None:
        # Known 4-tuples: sorted hashes and their slots (vectorised lookup, see _slots).
        self.key_hash = np.zeros(0, dtype=np.uint64)
        self.key_slot = np.zeros(0, dtype=np.int64)
        self.exact: dict[tuple[int, int], int] | None = None  # only after a hash collision
        self.n_slots = 0
        self.cap = 0
        self.side: dict[str, np.ndarray] = {}
        self.conn: dict[str, np.ndarray] = {}
        self._grow(1024)
        self.next_uid = 0
        self.packets = 0
        # History letters of connections not yet collected, in packet order.
        self.pending_uid: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
        self.pending_txt: list[np.ndarray] = [np.zeros(0, dtype=np.uint8)]
        self.fin_pos: dict[tuple[int, int], set[int]] = {}
        self.done: list[dict[str, np.ndarray]] = []  # finished, not yet collected

    def _grow(self, need: int) -> None:
        cap = max(need, 2 * self.cap)
        for fields, store, mult in ((SIDE_FIELDS, self.side, 2), (CONN_FIELDS, self.conn, 1)):
            for name, init in fields.items():
                arr = np.full(cap * mult, init, dtype=dtype_of(name))
                if name in store:
                    arr[: len(store[name])] = store[name]
                store[name] = arr
        self.cap = cap

    def _slots(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(code per packet, slot per code); a 4-tuple seen for the first time gets a slot.

        Why not a dict: a dict lookup per distinct 4-tuple and chunk was ~0.1 s of the 1 M
        synthetic capture. Known 4-tuples are a sorted array of 64-bit hashes searched with
        np.searchsorted; every hit is verified against the slot's endpoints, and any hash
        collision switches this tracker to the exact dict for good (never seen in practice).
        """
        codes, reps, h_u = _factorize_pairs(lo, hi)
        lo_u, hi_u = lo[reps], hi[reps]
        if self.exact is None and h_u is not None:
            slots = self._lookup(lo_u, hi_u, h_u)
            if slots is not None:
                return codes, slots
            self.exact = {
                (a, b): i
                for i, (a, b) in enumerate(
                    zip(
                        self.conn["ep_a"][: self.n_slots].tolist(),
                        self.conn["ep_b"][: self.n_slots].tolist(),
                        strict=True,
                    )
                )
            }
        get = self.exact.get
        found = [get(k) for k in zip(lo_u.tolist(), hi_u.tolist(), strict=True)]
        new = np.array([i for i, s in enumerate(found) if s is None], dtype=np.int64)
        slots = np.array([-1 if s is None else s for s in found], dtype=np.int64)
        slots[new] = self._new_slots(lo_u[new], hi_u[new])
        for i, s in zip(new.tolist(), slots[new].tolist(), strict=True):
            self.exact[(int(lo_u[i]), int(hi_u[i]))] = s
        return codes, slots

    def _lookup(self, lo_u: np.ndarray, hi_u: np.ndarray, h: np.ndarray) -> np.ndarray | None:
        """Slots of distinct 4-tuples (hashes `h`, distinct) via the hash table; None when
        a hash matches a different known 4-tuple."""
        slots = np.full(len(h), -1, dtype=np.int64)
        if len(self.key_hash):
            pos = np.minimum(np.searchsorted(self.key_hash, h), len(self.key_hash) - 1)
            hit = self.key_hash[pos] == h
            slots[hit] = self.key_slot[pos[hit]]
            sh = slots[hit]
            if not (
                (self.conn["ep_a"][sh] == lo_u[hit]).all()
                and (self.conn["ep_b"][sh] == hi_u[hit]).all()
            ):
                return None
        new = np.nonzero(slots < 0)[0]
        if len(new):
            slots[new] = ids = self._new_slots(lo_u[new], hi_u[new])
            order = np.argsort(h[new])
            at = np.searchsorted(self.key_hash, h[new][order])
            self.key_hash = np.insert(self.key_hash, at, h[new][order])
            self.key_slot = np.insert(self.key_slot, at, ids[order])
        return slots

    def _new_slots(self, lo_n: np.ndarray, hi_n: np.ndarray) -> np.ndarray:
        first = self.n_slots
        if first + len(lo_n) > self.cap:
            self._grow(first + len(lo_n))
        ids = np.arange(first, first + len(lo_n), dtype=np.int64)
        self.n_slots += len(lo_n)
        self.conn["ep_a"][ids] = lo_n
        self.conn["ep_b"][ids] = hi_n
        self.conn["uid"][ids] = np.arange(self.next_uid, self.next_uid + len(ids))
        self.next_uid += len(ids)
        return ids

    def feed(self, dec: Decoded) -> None:
        n = len(dec.frame)
        if n == 0:
            return
        self.packets += n
        lo = np.minimum(dec.src, dec.dst)
        hi = np.maximum(dec.src, dec.dst)
        codes, slot_of_code = self._slots(lo, hi)
        cols = {
            "d": (dec.src != lo).astype(np.int64),
            "ts": dec.ts,
            "frame": dec.frame,
            **{
                k: getattr(dec, k).astype(np.int64, copy=False)
                for k in ("seq", "ack", "flags", "win", "plen")
            },
        }
        conns = _connections(codes, slot_of_code, cols, self.side)
        # Lanes: this chunk's connections by packet count (desc), so step k uses lanes
        # 0..L_k-1. Why no general sort: stable argsorts of 262144 int64 keys cost ~60 ms
        # each; keys below 2**16 radix-sort in ~10 ms, and the lockstep order itself is a
        # placement, not a sort (see `at`).
        counts = conns.counts
        top = int(counts.max())
        lane_order = _stable_order(top - counts, top + 1)
        lane_of = np.empty(len(counts), dtype=np.int64)
        lane_of[lane_order] = np.arange(len(counts))
        lane_counts = counts[lane_order]
        steps = np.searchsorted(-lane_counts, -np.arange(1, top + 1), side="right")
        bounds = np.concatenate(([0], np.cumsum(steps)))
        # Packet (rank r, lane j) goes to bounds[r] + j: lanes of step r are a prefix.
        at = bounds[conns.rank] + lane_of[conns.of_packet]
        perm = np.empty(n, dtype=np.int64)
        perm[at] = conns.packet
        p = Packets({k: v[perm] for k, v in cols.items()})

        lane_slot = slot_of_code[conns.group[lane_order]]
        # Connections after a split start from the initial state, with a new uid; only the
        # carried ones read their slot's state. Why: on the 1 M bench capture ~3 of 4 lanes
        # are fresh; gathering all 52 state fields for them too cost ~70 ms of feed's ~600.
        carried = conns.carried[lane_order]
        nl = len(lane_slot)
        s = {k: np.full(2 * nl, init, dtype=dtype_of(k)) for k, init in SIDE_FIELDS.items()}
        c = {k: np.full(nl, init, dtype=dtype_of(k)) for k, init in CONN_FIELDS.items()}
        kept = np.flatnonzero(carried)
        kslot = lane_slot[kept]
        to_lane, from_slot = _both(kept), _both(kslot)
        for k, v in self.side.items():
            s[k][to_lane] = v[from_slot]
        for k, v in self.conn.items():
            c[k][kept] = v[kslot]
        for k in EP_FIELDS:
            c[k] = self.conn[k][lane_slot]
        fresh = np.flatnonzero(~carried)
        if len(fresh):
            c["uid"][fresh] = np.arange(self.next_uid, self.next_uid + len(fresh))
            self.next_uid += len(fresh)
        # The pre-pass knows each connection's base sequence numbers: the steps skip them.
        s["base_set"] = conns.base_set[lane_order].ravel()
        s["base_seq"] = conns.base_seq[lane_order].ravel()
        p.uid[at] = c["uid"][lane_of[conns.of_packet]]
        # Free the chunk-sized inputs before the steps: a lower peak means fewer page
        # faults for a fresh process (~4 us each on this VM).
        last = conns.last[lane_order]
        del cols, perm, at, lo, hi, codes, conns
        for k in range(len(steps)):
            step(s, c, p, int(bounds[k]), int(bounds[k + 1]))
        # The last connection of each 4-tuple stays in its slot; the others are finished.
        ended = np.flatnonzero(~last)
        if len(ended):
            self.done.append(_snapshot(s, c, ended))
        keep = np.flatnonzero(last)
        kslot = lane_slot[keep]
        to_slot, from_lane = _both(kslot), _both(keep)
        for k, v in s.items():
            self.side[k][to_slot] = v[from_lane]
        for k, v in c.items():
            self.conn[k][kslot] = v[keep]
        self._letters(p)
        self._fins(p)

    def _letters(self, p: Packets) -> None:
        """History letters of this chunk, appended per connection in packet order."""
        base = LETTERS[p.letter]
        case = np.where(p.upper, 32, 0).astype(np.uint8)
        grid = np.zeros((len(base), 4), dtype=np.uint8)
        grid[:, 0] = np.where(p.caret, ord("^"), 0)
        grid[:, 1] = np.where(base != 0, base - case, 0)
        grid[:, 2] = np.where(p.t_letter, ord("t") - case, 0)
        grid[:, 3] = np.where(p.w_letter, ord("w") - case, 0)
        keep = np.nonzero(grid.ravel())[0]
        if len(keep) == 0:
            return
        self.pending_uid.append(p.uid[keep >> 2])
        self.pending_txt.append(grid.ravel()[keep])

    def _fins(self, p: Packets) -> None:
        """FIN positions other than a side's first FIN position (rare), as sets per side.

        FIN retransmissions = FINs - distinct FIN positions; the first position is known
        from the lockstep state, so only the other positions need a set.
        """
        m = np.nonzero(p.odd_fin)[0]
        fin_pos = self.fin_pos
        for u, d, e in zip(p.uid[m].tolist(), p.d[m].tolist(), p.end[m].tolist(), strict=True):
            fin_pos.setdefault((u, d), set()).add(e)

    def finish(self) -> None:
        live = np.nonzero(self.conn["started"][: self.n_slots] != 0)[0]
        if len(live):
            sidx = np.stack([2 * live, 2 * live + 1], axis=1).ravel()
            s = {k: v[sidx] for k, v in self.side.items()}
            c = {k: v[live] for k, v in self.conn.items()}
            self.done.append(_snapshot(s, c, np.arange(len(live))))

    def collect(self) -> dict[str, np.ndarray] | None:
        """Finished connections so far (fields, 'history', 'fin_retx'), then forget them."""
        if not self.done:
            return None
        if len(self.done) == 1:  # the usual case (one chunk per collect): no copy
            rec = self.done[0]
        else:
            rec = {k: np.concatenate([d[k] for d in self.done]) for k in self.done[0]}
        self.done = []
        rec["history"] = self._histories(rec["uid"])
        distinct = (rec["fin"] > 0).astype(np.int64)
        if self.fin_pos:
            for i, u in enumerate(rec["uid"].tolist()):
                for d in (0, 1):
                    distinct[i, d] += len(self.fin_pos.pop((u, d), ()))
        retx = rec["fin"] - distinct
        rec["fin_retx"] = retx
        return rec

    def _histories(self, uids: np.ndarray) -> Coded:
        """History strings of `uids` (as codes); their letters leave the pending store.

        Why vectorised: a bytes slice + decode per connection was ~85 ms on the 1 M
        capture. Letters are grouped by connection with a radix sort, laid out as rows of
        a zero-padded byte matrix (letters are never 0), and only distinct rows are decoded.
        Rows longer than MAX_ROW (pathological: Zeek repeats S/F/R letters when the
        sequence number changes) are decoded one by one so the matrix stays small.
        """
        uid = np.concatenate(self.pending_uid)
        txt = np.concatenate(self.pending_txt)
        m = len(uids)
        # Letters of other connections get row m: one stable sort groups `uids`' letters
        # by row (packet order within a row) and leaves the rest behind them in packet
        # order. Why: splitting with boolean masks first cost ~6 ms per collect.
        row_of = np.full(self.next_uid, m, dtype=np.int64)
        row_of[uids] = np.arange(m)
        row = row_of[uid]
        order = _stable_order(row, m + 1)
        row, txt = row[order], txt[order]
        k = int(np.searchsorted(row, m))
        self.pending_uid, self.pending_txt = [uid[order[k:]]], [txt[k:]]
        row, txt = row[:k], txt[:k]
        if not len(row):
            return Coded(np.zeros(m, dtype=np.int64), np.array([""], dtype=object))
        lengths = np.bincount(row, minlength=m)
        starts = np.cumsum(lengths) - lengths
        col = np.arange(len(row)) - starts[row]
        long = lengths > MAX_ROW
        long_rows: list[int] = []
        long_text: list[str] = []
        if long.any():
            text = txt.tobytes()
            long_rows = np.nonzero(long)[0].tolist()
            long_text = [text[starts[i] : starts[i] + lengths[i]].decode() for i in long_rows]
            fit = ~long[row]
            row, txt, col = row[fit], txt[fit], col[fit]
        width = -(-int(lengths[~long].max(initial=1)) // 8) * 8  # whole uint64 words
        grid = np.zeros((m, width), dtype=np.uint8)
        grid[row, col] = txt
        if width == 8:  # the common case (e.g. "ShADdfFa"): hash-factorize one uint64
            codes, uniq = pd.factorize(grid.view(np.uint64).ravel())
            raw = [bytes(r) for r in np.asarray(uniq).view(np.uint8).reshape(-1, 8)]
        else:
            keys = grid.view(np.dtype((np.void, width))).ravel()
            uniq, codes = np.unique(keys, return_inverse=True)
            raw = [bytes(u) for u in uniq]
        names = [r.rstrip(b"\0").decode("ascii") for r in raw]
        codes = np.asarray(codes, dtype=np.int64).ravel()
        # Long rows: their own labels after the matrix rows' ones.
        codes[long_rows] = np.arange(len(names), len(names) + len(long_rows))
        return Coded(codes, np.array(names + long_text, dtype=object))


def _both(lanes: np.ndarray) -> np.ndarray:
    """Side-state indices of `lanes`: 2j and 2j + 1 next to each other."""
    return np.stack([2 * lanes, 2 * lanes + 1], axis=1).ravel()


def _snapshot(s: dict, c: dict, lanes: np.ndarray) -> dict[str, np.ndarray]:
    both = _both(lanes)
    out = {k: v[both].reshape(-1, 2) for k, v in s.items()}
    out.update({k: v[lanes] for k, v in c.items()})
    return out


def _factorize_pairs(
    lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Codes of (lo, hi) pairs, the first index of each code, and the pairs' distinct
    hashes (None when two distinct pairs of this chunk share a hash)."""
    h = (lo * K1) ^ hi
    codes, uniq = pd.factorize(h)
    # factorize numbers codes in order of first appearance: a new code raises the running max.
    reps = np.nonzero(np.diff(np.maximum.accumulate(codes), prepend=-1) > 0)[0]
    if (lo[reps][codes] == lo).all() and (hi[reps][codes] == hi).all():
        return codes.astype(np.int64), reps, uniq
    pairs = np.stack([lo, hi], axis=1)  # a hash collision: exact (slower) grouping
    _, first, codes = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
    return codes.ravel().astype(np.int64), first, None


__all__ = ["FIN", "Tracker"]
