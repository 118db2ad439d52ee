"""A chunk's packets -> connections, with tshark's stream split decided before the lockstep.

Rule (tshark 4.0 `tcp.stream`): a pure SYN from side D whose sequence number differs from
the base sequence number of D in the current connection starts a new connection. D's base
is set once per connection, by the first of: a packet from D (its seq for a SYN, else
seq - 1) or an ACK-flagged packet from the peer (ack - 1).

Why a pre-pass: with one lane per 4-tuple and a split test at every step, a 4-tuple
reused six times in a chunk would cost six connections' worth of steps; with one lane per
connection a chunk takes as many steps as its longest connection has packets. Only the base
sequence numbers decide a split, so the pre-pass iterates over the k-th pure SYN of every
4-tuple at once (a handful of rounds per chunk), finding "the first base-setting packet
of side D since the connection began" from a precomputed next-position array per side
(see _Bases). The same lookup gives each connection's final base, so the lockstep does
not track it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from closebench.teardown.lockstep import ACK, SYN
from closebench.teardown.radix import stable_order

M32 = 0xFFFFFFFF


@dataclass
class ChunkConnections:
    """The connections of one chunk; packets listed grouped by connection."""

    packet: np.ndarray  # chunk packet indices, by connection, file order within each
    of_packet: np.ndarray  # connection of packet[i]
    rank: np.ndarray  # position of packet[i] within its connection
    counts: np.ndarray  # packets per connection (0 for a connection ended by a first SYN)
    group: np.ndarray  # 4-tuple code of each connection
    carried: np.ndarray  # continues the 4-tuple's connection from before this chunk
    last: np.ndarray  # the 4-tuple's last connection: it stays in the 4-tuple's slot
    base_set: np.ndarray  # (connections, 2 sides): base sequence known after the chunk
    base_seq: np.ndarray


@dataclass
class _Bases:
    """The chunk's packets (grouped order), per side and position the next position at or
    after it holding a packet that would set the side's base (n if none), and every
    4-tuple's base from before the chunk.

    Why "next position" arrays: finding the first base-setting packet since a position
    used to be an np.searchsorted per lookup round and side, plus per-side bookkeeping
    (~25 + ~25 ms on the 1 M bench capture); with the next position precomputed (one
    reversed running minimum per side) a lookup is a few gathers for both sides at once,
    and the base value is computed only for the packets looked up.
    """

    d: np.ndarray
    flags: np.ndarray
    seq: np.ndarray
    ack: np.ndarray
    nxt: np.ndarray  # (n + 1) * side + position -> next position; entry n is the sentinel
    carried_set: np.ndarray  # 2 * 4-tuple + side (flat)
    carried_seq: np.ndarray

    def lookup(
        self,
        group: np.ndarray,
        side: np.ndarray,
        carried: np.ndarray,
        since: np.ndarray,
        before: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(set, value) of side `side`'s base in connections that began at position `since`
        (`carried`: before the chunk), as known just before position `before`."""
        at = 2 * group + side
        use_carry = carried & (self.carried_set[at] != 0)
        n = len(self.d)
        e = self.nxt[(n + 1) * side + since]
        inside = ~use_carry & (e < before)  # before the end, hence in the same 4-tuple
        e = np.minimum(e, n - 1)  # the sentinel n: any valid position, masked below
        seq = self.seq[e]
        own = np.where((self.flags[e] & SYN) != 0, seq, (seq - 1) & M32)
        new = np.where(self.d[e] == side, own, (self.ack[e] - 1) & M32)
        val = np.where(use_carry, self.carried_seq[at], np.where(inside, new, 0))
        return use_carry | inside, val


def _bases(
    d: np.ndarray, flags: np.ndarray, seq: np.ndarray, ack: np.ndarray, carried: tuple
) -> _Bases:
    n = len(d)
    hack = (flags & ACK) != 0
    # int32 positions: half the memory traffic of int64 for the running minimum.
    nxt = np.full(2 * (n + 1), n, dtype=np.int32)
    at = np.arange(n, dtype=np.int32)
    for side in (0, 1):
        part = nxt[side * (n + 1) : (side + 1) * (n + 1)]
        np.copyto(part[:n], np.where((d == side) | hack, at, np.int32(n)))
        # Next base-setting position at or after each position: running min from the end.
        np.minimum.accumulate(part[::-1], out=part[::-1])
    carried_set, carried_seq = (np.ascontiguousarray(x).ravel() for x in carried)
    return _Bases(d, flags, seq, ack, nxt, carried_set, carried_seq)


def split_points(
    group: np.ndarray,
    starts: np.ndarray,
    d: np.ndarray,
    flags: np.ndarray,
    seq: np.ndarray,
    bases: _Bases,
) -> np.ndarray:
    """Sorted positions of the packets that start a new connection of their 4-tuple.

    Packets are given grouped by 4-tuple (`group`, ascending; group g begins at
    `starts[g]`), in file order within a group.
    """
    cand = np.flatnonzero((flags & (SYN | ACK)) == SYN)
    if not len(cand):
        return cand
    cg = group[cand]
    new_group = np.flatnonzero(np.diff(cg, prepend=-1) != 0)
    rank = np.arange(len(cand)) - np.repeat(new_group, np.diff(np.append(new_group, len(cand))))
    top = int(rank.max()) + 1
    order = stable_order(rank, top)
    rounds = np.searchsorted(rank[order], np.arange(top + 1))
    seg_start = starts.copy()  # first position of each 4-tuple's current connection
    carried = np.ones(len(starts), dtype=bool)  # still the connection from before the chunk
    found: list[np.ndarray] = []
    for k in range(top):
        q = cand[order[rounds[k] : rounds[k + 1]]]  # at most one pure SYN per 4-tuple
        g = group[q]
        is_set, val = bases.lookup(g, d[q], carried[g], seg_start[g], q)
        split = is_set & (seq[q] != val)
        hit = q[split]
        seg_start[g[split]] = hit
        carried[g[split]] = False
        found.append(hit)
    return np.sort(np.concatenate(found))


def chunk_connections(
    codes: np.ndarray,
    slot_of_code: np.ndarray,
    cols: dict[str, np.ndarray],
    side: dict[str, np.ndarray],
) -> ChunkConnections:
    """Split each 4-tuple's packets of the chunk into connections (see split_points)."""
    n, ncodes = len(codes), len(slot_of_code)
    by_code = stable_order(codes, ncodes)
    starts = np.cumsum(np.bincount(codes, minlength=ncodes))
    starts = np.concatenate(([0], starts[:-1]))
    group = codes[by_code]
    d, flags, seq, ack = (cols[k][by_code] for k in ("d", "flags", "seq", "ack"))
    sides = np.stack([2 * slot_of_code, 2 * slot_of_code + 1], axis=1)
    bases = _bases(d, flags, seq, ack, (side["base_set"][sides], side["base_seq"][sides]))
    splits = split_points(group, starts, d, flags, seq, bases)
    # Each 4-tuple's carried connection, then one per split point: merge two sorted lists
    # (a split at a 4-tuple's first packet leaves its carried connection empty).
    at_carried = np.arange(ncodes) + np.searchsorted(splits, starts, side="left")
    at_split = np.arange(len(splits)) + np.searchsorted(starts, splits, side="right")
    ncon = ncodes + len(splits)
    first = np.empty(ncon, dtype=np.int64)
    first[at_carried], first[at_split] = starts, splits
    carried = np.zeros(ncon, dtype=bool)
    carried[at_carried] = True
    conn_group = np.empty(ncon, dtype=np.int64)
    conn_group[at_carried], conn_group[at_split] = np.arange(ncodes), group[splits]
    counts = np.diff(np.append(first, n))
    of_packet = np.repeat(np.arange(ncon), counts)
    # Each connection's base after its last packet of the chunk, both sides.
    base_set = np.zeros((ncon, 2), dtype=np.int64)
    base_seq = np.zeros((ncon, 2), dtype=np.int64)
    for sd in (0, 1):
        is_set, val = bases.lookup(conn_group, np.full(ncon, sd), carried, first, first + counts)
        base_set[:, sd], base_seq[:, sd] = is_set, val
    return ChunkConnections(
        packet=by_code,
        of_packet=of_packet,
        rank=np.arange(n) - first[of_packet],
        counts=counts,
        group=conn_group,
        carried=carried,
        last=np.append(carried[1:], True),
        base_set=base_set,
        base_seq=base_seq,
    )
