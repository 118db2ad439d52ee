"""Connections of a capture, chunk by chunk: tshark stream split + lockstep analysis.

Stream splitting (tshark 4.0 `tcp.stream`): packets are grouped by unordered 4-tuple; a
pure SYN whose sequence number differs from the base sequence number already recorded for
that sender in the current connection starts a new connection (same ISN: retransmission,
same connection). Base sequence = the SYN's ISN, else seq - 1 of the first packet, else
ack - 1 of the first ACK from the peer, exactly as Wireshark sets `base_seq`.

Memory is bounded by the number of distinct 4-tuples alive, not by the capture: state
lives in arrays indexed by a slot per 4-tuple; a connection that ends (port reuse or end
of capture) is turned into output columns right away (classify.py) and its state is reset.

Known limit (estimated from the per-step cost, not measured): a chunk in which one
connection has many more packets than the
others runs one lockstep step per packet of it (~0.2 ms each), i.e. a capture of a single
bulk transfer is analysed at ~5 k packets/s. Bench captures (many short HTTP connections)
are not affected.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from closebench.analysis.decode import Decoded
from closebench.analysis.lanes import (
    CONN_FIELDS,
    FIN,
    LETTERS,
    SIDE_FIELDS,
    Packets,
    dtype_of,
    step,
)

K1 = np.uint64(0x9E3779B97F4A7C15)


class Tracker:
    """Feed Decoded chunks in file order; finished connections come out as record dicts."""

    def __init__(self) -> None:
        self.slot_of: dict[tuple[int, int], int] = {}
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

    def _slots(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Slot per packet; a 4-tuple seen for the first time gets a fresh slot."""
        codes, reps = _factorize_pairs(lo, hi)
        lo_u, hi_u = lo[reps].tolist(), hi[reps].tolist()
        get = self.slot_of.get
        slots = [get(k) for k in zip(lo_u, hi_u, strict=True)]
        new = [i for i, s in enumerate(slots) if s is None]
        if new:
            first = len(self.slot_of)
            if first + len(new) > self.cap:
                self._grow(first + len(new))
            ids = np.arange(first, first + len(new))
            for i, s in zip(new, ids.tolist(), strict=True):
                slots[i] = s
                self.slot_of[(lo_u[i], hi_u[i])] = s
            self.conn["ep_a"][ids] = lo[reps[new]]
            self.conn["ep_b"][ids] = hi[reps[new]]
            self.conn["uid"][ids] = np.arange(self.next_uid, self.next_uid + len(new))
            self.next_uid += len(new)
        return np.asarray(slots, dtype=np.int64)[codes]

    def feed(self, dec: Decoded) -> None:
        n = len(dec.frame)
        if n == 0:
            return
        self.packets += n
        lo = np.minimum(dec.src, dec.dst)
        hi = np.maximum(dec.src, dec.dst)
        slot = self._slots(lo, hi)
        # Lanes: slots of this chunk by packet count (desc), so step k uses lanes 0..L_k-1.
        uslots, inv, counts = np.unique(slot, return_inverse=True, return_counts=True)
        lane_order = np.argsort(-counts, kind="stable")
        lane_of = np.empty_like(lane_order)
        lane_of[lane_order] = np.arange(len(lane_order))
        by_slot = np.argsort(inv, kind="stable")
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rank = np.empty(n, dtype=np.int64)
        rank[by_slot] = np.arange(n) - starts[inv[by_slot]]
        nl = len(uslots)
        perm = np.argsort(rank * nl + lane_of[inv], kind="stable")
        lane_counts = counts[lane_order]
        steps = np.searchsorted(-lane_counts, -np.arange(1, lane_counts[0] + 1), side="right")
        bounds = np.concatenate(([0], np.cumsum(steps)))

        p = Packets(
            {
                "d": (dec.src != lo).astype(np.int64)[perm],
                "ts": dec.ts[perm],
                "frame": dec.frame[perm],
                "seq": dec.seq.astype(np.int64)[perm],
                "ack": dec.ack.astype(np.int64)[perm],
                "flags": dec.flags.astype(np.int64)[perm],
                "win": dec.win.astype(np.int64)[perm],
                "plen": dec.plen.astype(np.int64)[perm],
            }
        )
        lane_slot = uslots[lane_order]
        sidx = np.stack([2 * lane_slot, 2 * lane_slot + 1], axis=1).ravel()
        s = {k: v[sidx] for k, v in self.side.items()}
        c = {k: v[lane_slot] for k, v in self.conn.items()}
        for k in range(len(steps)):
            a, b = int(bounds[k]), int(bounds[k + 1])
            self._split(s, c, p, a, b)
            step(s, c, p, a, b)
            p.uid[a:b] = c["uid"][: b - a]
        for k, v in s.items():
            self.side[k][sidx] = v
        for k, v in c.items():
            self.conn[k][lane_slot] = v
        self._letters(p)
        self._fins(p)

    def _split(self, s: dict, c: dict, p: Packets, a: int, b: int) -> None:
        """Port reuse: a pure SYN with a new ISN ends the lane's connection (see docstring)."""
        n = b - a
        fi = 2 * np.arange(n) + p.d[a:b]
        new = p.pure_syn[a:b] & (s["base_set"][fi] != 0) & (p.seq[a:b] != s["base_seq"][fi])
        if not new.any():
            return
        lanes = np.nonzero(new)[0]
        self.done.append(_snapshot(s, c, lanes))
        both = np.stack([2 * lanes, 2 * lanes + 1], axis=1).ravel()
        for name, init in SIDE_FIELDS.items():
            s[name][both] = init
        for name, init in CONN_FIELDS.items():
            if name not in ("ep_a", "ep_b"):
                c[name][lanes] = init
        c["uid"][lanes] = np.arange(self.next_uid, self.next_uid + len(lanes))
        self.next_uid += len(lanes)

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
        self.pending_uid.append(np.repeat(p.uid, 4)[keep])
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
        live = np.nonzero(self.conn["started"][: len(self.slot_of)] != 0)[0]
        if len(live):
            sidx = np.stack([2 * live, 2 * live + 1], axis=1).ravel()
            s = {k: v[sidx] for k, v in self.side.items()}
            c = {k: v[live] for k, v in self.conn.items()}
            self.done.append(_snapshot(s, c, np.arange(len(live))))

    def collect(self) -> dict[str, np.ndarray] | None:
        """Finished connections so far (fields, 'history', 'fin_retx'), then forget them."""
        if not self.done:
            return None
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

    def _histories(self, uids: np.ndarray) -> np.ndarray:
        """History strings of `uids`; their letters leave the pending store."""
        uid = np.concatenate(self.pending_uid)
        txt = np.concatenate(self.pending_txt)
        mine = np.isin(uid, uids)
        self.pending_uid, self.pending_txt = [uid[~mine]], [txt[~mine]]
        uid, txt = uid[mine], txt[mine]
        order = np.argsort(uid, kind="stable")  # stable: packet order within a connection
        uid = uid[order]
        text = txt[order].tobytes()
        cut = np.nonzero(np.diff(uid))[0] + 1
        lo = np.concatenate(([0], cut)).astype(np.int64)
        hi = np.concatenate((cut, [len(uid)])).astype(np.int64)
        cache: dict[bytes, str] = {}
        names = []
        for i, j in zip(lo.tolist(), hi.tolist(), strict=True):
            raw = text[i:j]
            got = cache.get(raw)
            if got is None:
                got = cache[raw] = raw.decode("ascii")
            names.append(got)
        if not len(uid):
            return np.full(len(uids), "", dtype=object)
        return _reorder(uids, uid[lo], names)


def _reorder(uids: np.ndarray, have: np.ndarray, names: list[str]) -> np.ndarray:
    """names (for sorted `have`) placed at the positions of `uids`; '' for none."""
    out = np.full(len(uids), "", dtype=object)
    pos = np.searchsorted(have, uids)
    pos = np.minimum(pos, len(have) - 1)
    hit = have[pos] == uids
    out[hit] = np.asarray(names, dtype=object)[pos[hit]]
    return out


def _snapshot(s: dict, c: dict, lanes: np.ndarray) -> dict[str, np.ndarray]:
    out = {k: np.stack([v[2 * lanes], v[2 * lanes + 1]], axis=1) for k, v in s.items()}
    out.update({k: v[lanes] for k, v in c.items()})
    return out


def _factorize_pairs(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of (lo, hi) pairs and the first index of each code (hash, then verified)."""
    h = (lo * K1) ^ hi
    codes, _ = pd.factorize(h)
    # factorize numbers codes in order of first appearance: a new code raises the running max.
    reps = np.nonzero(np.diff(np.maximum.accumulate(codes), prepend=-1) > 0)[0]
    if (lo[reps][codes] == lo).all() and (hi[reps][codes] == hi).all():
        return codes.astype(np.int64), reps
    pairs = np.stack([lo, hi], axis=1)  # a hash collision: exact (slower) grouping
    _, first, codes = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
    return codes.ravel().astype(np.int64), first


__all__ = ["FIN", "Tracker"]
