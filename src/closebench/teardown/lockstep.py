"""tshark's sequence analysis and Zeek's endpoint/history logic, vectorised across connections.

Why "lockstep": the analysis is a per-connection state machine (every packet depends on the
previous packets of both directions), so it cannot be vectorised along time. It can be
vectorised across connections: step k processes the k-th packet (of this chunk) of every
connection at once, with state in arrays. Lanes are one per connection (stream splits are
decided beforehand, streams.py) and sorted by packet count, so the lanes of step k are a
prefix 0..L_k-1 and every array operation works on contiguous slices. Blocks that only
matter for some packets (SYN, FIN / RST, retransmissions, zero windows, dup ACKs) run only
in the steps that hold such a packet; what that saves is measured in docs/performance.md.

A step runs named phases in the order of the per-packet rules they port: the connection's
start, Wireshark's tcp_analyze_sequence_number, our counters, Zeek's CheckHistory, Zeek's
endpoint states, tshark's first RTT. `sides` holds SIDE_FIELDS per direction, `conns`
CONN_FIELDS per lane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
SFR = SYN | FIN | RST
M32 = 0xFFFFFFFF
HALF = 0x80000000

# Wireshark's per-segment analysis flags (subset we need)
TA_RETX, TA_FAST, TA_SPURIOUS, TA_OOO = 1, 2, 4, 8
TA_KEEPALIVE, TA_ZWP, TA_DUPACK, TA_KA_ACK = 16, 32, 64, 128
TA_ANY_RETX = TA_RETX | TA_FAST | TA_SPURIOUS

# Zeek endpoint states
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)

# History classes of a packet (Zeek CheckHistory kinds); index into LETTERS.
K_NONE, K_S, K_H, K_F, K_R, K_I, K_Q, K_D, K_A = range(9)
LETTERS = np.frombuffer(b"\0shfriqda", dtype=np.uint8)
KIND_BIT = np.array([0, 1, 1, 2, 4, 8, 64, 16, 32], dtype=np.int64)  # S and H share a bit
POW10 = np.array([10**i for i in range(12)], dtype=np.int64)

# State per direction ("side") and per connection, with initial values.
SIDE_FIELDS: dict[str, float] = {
    "base_seq": 0,
    "base_set": 0,
    "nextseq": 0,
    "nextseqtime": 0.0,
    "lastack": 0,
    "lastacktime": 0.0,
    "window": -1,
    "dupacknum": 0,
    "lastflags": 0,
    "maxseqtobeacked": 0,
    "pkts": 0,
    "bytes": 0,
    "syn": 0,
    "synack": 0,
    "fin": 0,
    "rst": 0,
    "retx": 0,
    "syn_retx": 0,
    "ffin_ts": np.nan,
    "ffin_frame": -1,
    "ffin_seq": 0,
    "ffin_ack": -1,  # -1: the first FIN carried no ACK
    "frst_ts": np.nan,
    "fin_before_rst": 0,
    "hist_seen": 0,
    "hl_syn": -1,
    "hl_fin": -1,
    "hl_rst": -1,
    "max_end": 0,
    "max_end_set": 0,
    "rxmit": 0,
    "win0": 0,
    "state": INACTIVE,
}
CONN_FIELDS: dict[str, float] = {
    "uid": -1,
    "ep_a": 0,
    "ep_b": 0,
    "started": 0,
    "first_frame": -1,
    "first_ts": np.nan,
    "last_ts": np.nan,
    "syn_sender": -1,  # side (0 = ep_a, 1 = ep_b) of the first pure SYN
    "synack_sender": -1,
    "orig": -1,  # Zeek originator side
    "mru_syn": np.nan,
    "first_rtt": 0.0,
    "td_ts": np.nan,
    "td_pkts": 0,
    "td_dupacks": 0,
    "ffin_frame_any": -1,
    "ffin_ts_any": np.nan,
    "frst_frame_any": -1,
    "frst_ts_any": np.nan,
}
FLOAT_FIELDS = {k for k, v in {**SIDE_FIELDS, **CONN_FIELDS}.items() if isinstance(v, float)}
EP_FIELDS = {"ep_a", "ep_b"}


def dtype_of(name: str) -> type:
    if name in FLOAT_FIELDS:
        return np.float64
    return np.uint64 if name in EP_FIELDS else np.int64


def _kind(
    syn: np.ndarray, fin: np.ndarray, rst: np.ndarray, hack: np.ndarray, data: np.ndarray
) -> np.ndarray:
    """Zeek's history class of a packet (CheckHistory), from its flags and payload."""
    nbits = syn.astype(np.int64) + fin + rst
    kind = np.where(data, K_D, np.where(hack, K_A, K_NONE))
    kind = np.where(nbits == 1, np.where(syn, np.where(hack, K_H, K_S), kind), kind)
    kind = np.where((nbits == 1) & fin, K_F, kind)
    kind = np.where((nbits == 1) & rst, K_R, kind)
    return np.where(nbits > 1, np.where(fin & rst, K_I, K_Q), kind)


# _kind of every combination of (syn, fin, rst, ack, payload), indexed by those 5 bits.
_SHAPES = np.arange(32)
KIND_OF_SHAPE = _kind(*(((_SHAPES >> b) & 1).astype(bool) for b in range(5))).astype(np.int8)


def seq_lt(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a != b) & (((b - a) & M32) < HALF)


def seq_gt(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a != b) & (((a - b) & M32) < HALF)


class Packets:
    """Per-packet columns of one chunk in lockstep order, plus what depends on one packet."""

    def __init__(self, cols: dict[str, np.ndarray]) -> None:
        self.d = cols["d"]
        self.ts = cols["ts"]
        self.frame = cols["frame"]
        self.seq = seq = cols["seq"]
        self.ack = cols["ack"]
        flags = cols["flags"]
        self.win = cols["win"]
        self.plen = plen = cols["plen"]
        self.syn = syn = (flags & SYN) != 0
        self.fin = fin = (flags & FIN) != 0
        self.rst = rst = (flags & RST) != 0
        self.hack = hack = (flags & ACK) != 0
        self.sfr = sfr = (flags & SFR) != 0
        self.pure_ack = (flags & (SYN | ACK)) == ACK
        self.end = (seq + plen) & M32
        self.nxt = (self.end + (syn | fin)) & M32
        # The history letter class depends on 5 bits only: one lookup instead of ~15 passes.
        shape = syn | (fin << 1) | (rst << 2) | (hack << 3) | ((plen > 0) << 4)
        self.kind = KIND_OF_SHAPE[shape]
        self.kbit = KIND_BIT[self.kind].astype(np.uint8)
        self.data = plen > 0
        self.consider = self.data | syn | fin  # can be a retransmission (Wireshark)
        self.dat = self.data & ~syn
        self.w0 = (self.win == 0) & ~sfr
        n = len(seq)
        # Outputs, filled by the steps
        self.uid = np.zeros(n, dtype=np.int64)
        self.caret = np.zeros(n, dtype=bool)
        self.letter = np.zeros(n, dtype=np.uint8)
        self.t_letter = np.zeros(n, dtype=bool)
        self.w_letter = np.zeros(n, dtype=bool)
        self.upper = np.zeros(n, dtype=bool)
        self.odd_fin = np.zeros(n, dtype=bool)


State = dict[str, np.ndarray]  # one array per field: SIDE_FIELDS by side, CONN_FIELDS by lane


@dataclass
class Step:
    """The packets of one lockstep step: lane j holds packet a + j, of direction d[j]."""

    a: int
    b: int
    d: np.ndarray
    fwd: np.ndarray  # index of the sending side's state: 2j + d
    rev: np.ndarray  # index of the peer side's state: fwd ^ 1
    ts: np.ndarray
    seq: np.ndarray
    ack: np.ndarray
    win: np.ndarray
    plen: np.ndarray
    syn: np.ndarray
    fin: np.ndarray
    rst: np.ndarray
    hack: np.ndarray  # the ACK flag
    sfr: np.ndarray  # any of SYN, FIN, RST
    any_syn: bool
    any_fin: bool
    any_rst: bool

    @property
    def n(self) -> int:
        return self.b - self.a

    @classmethod
    def of(cls, p: Packets, a: int, b: int) -> Step:
        d = p.d[a:b]
        fwd = 2 * np.arange(b - a) + d
        syn, fin, rst = p.syn[a:b], p.fin[a:b], p.rst[a:b]
        return cls(
            a, b, d, fwd, fwd ^ 1, p.ts[a:b], p.seq[a:b], p.ack[a:b], p.win[a:b], p.plen[a:b],
            syn, fin, rst, p.hack[a:b], p.sfr[a:b], bool(syn.any()), bool(fin.any()),
            bool(rst.any()),
        )  # fmt: skip


def step(sides: State, conns: State, p: Packets, a: int, b: int) -> None:
    """Process packets p[a:b], one per lane 0..b-a-1 (lane j's state at sides[2j+d], conns[j]).

    The phases run in the order of the per-packet original. Blocks that cannot change
    anything for this step's packets are skipped (`if x.any()`): most steps carry no SYN,
    no retransmission, no zero window. Each skip is exact: the skipped statements would have
    stored back the values already there.
    """
    st = Step.of(p, a, b)
    _start_connections(st, conns, p)
    dupack, anyretx = _sequence_analysis(st, sides, conns, p)
    _count(st, sides, conns, p, dupack, anyretx)
    _history_letters(st, sides, p)
    _endpoint_states(st, sides)
    _first_rtt(st, conns, p)


def _start_connections(st: Step, conns: State, p: Packets) -> None:
    """A lane's first packet: first frame and time, Zeek's originator, the "^" flip mark."""
    n, a, d = st.n, st.a, st.d
    started = conns["started"][:n]
    first = started == 0
    if first.any():
        fl = np.nonzero(first)[0]
        conns["first_frame"][fl] = p.frame[a : st.b][fl]
        conns["first_ts"][fl] = st.ts[fl]
        flip = st.syn[fl] & st.hack[fl]  # a SYN-ACK first: the originator is the peer
        conns["orig"][fl] = np.where(flip, 1 - d[fl], d[fl])
        p.caret[a + fl] = flip
        started[fl] = 1
    conns["last_ts"][:n] = st.ts
    p.upper[a : st.b] = d == conns["orig"][:n]


def _sequence_analysis(
    st: Step, sides: State, conns: State, p: Packets
) -> tuple[np.ndarray, np.ndarray]:
    """Wireshark's tcp_analyze_sequence_number: zero-window probes, keep-alives, duplicate
    ACKs, retransmissions (spurious, fast, plain) and out-of-order, then the side's next
    sequence number, window and last ACK. The base sequence numbers are set by streams.py.
    Returns (dup ACK, any kind of retransmission) per lane."""
    fwd, rev, seq, ack, win, plen, ts = st.fwd, st.rev, st.seq, st.ack, st.win, st.plen, st.ts
    nf = sides["nextseq"][fwd]
    lastack_f = sides["lastack"][fwd]
    nfm1 = (nf - 1) & M32
    seq_at_nf = seq == nf
    same_ack_win = (plen == 0) & seq_at_nf & (ack == lastack_f) & (win == sides["window"][fwd])
    same_ack_win &= ~st.sfr
    zwp = (plen == 1) & seq_at_nf
    if zwp.any():
        zwp &= sides["window"][rev] == 0
    ka = ~zwp & (plen <= 1) & (seq == nfm1) & ~st.sfr
    dupack = _duplicate_acks(st, sides, same_ack_win, zwp, ack != lastack_f)
    _peer_max_seq_to_be_acked(st, sides)

    end = p.end[st.a : st.b]
    la_r = sides["lastack"][rev]
    spurious = p.data[st.a : st.b] & ~ka
    if spurious.any():
        spurious &= (la_r != 0) & ((end == la_r) | seq_lt(end, la_r))
    rest = p.consider[st.a : st.b] & ~ka & ~spurious & (nf != 0) & seq_lt(seq, nf)
    rest &= ~((plen > 1) & (nfm1 == seq))
    nxt = p.nxt[st.a : st.b]
    if rest.any():
        dn_r = sides["dupacknum"][rev]
        fast = rest & (dn_r >= 2) & (la_r == seq) & (ts - sides["lastacktime"][rev] < 0.020)
        rest &= ~fast
        rtt = conns["first_rtt"][: st.n]
        rtt = np.where(rtt != 0, rtt, 0.003)
        ooo = rest & (ts - sides["nextseqtime"][fwd] < rtt) & (nf != nxt)
        anyretx = spurious | fast | (rest & ~ooo)
    else:
        anyretx = spurious
    advance = ~zwp & ~st.rst
    upd = (seq_gt(nxt, nf) | (nf == 0)) & advance
    new_nf = np.where(upd, nxt, nf)
    sides["nextseq"][fwd] = new_nf
    sides["nextseqtime"][fwd[upd]] = ts[upd]
    ms = sides["maxseqtobeacked"][fwd]
    sides["maxseqtobeacked"][fwd] = np.where(((seq == ms) | (ms == 0)) & advance, new_nf, ms)
    sides["window"][fwd] = win
    sides["lastack"][fwd] = ack
    sides["lastacktime"][fwd] = ts
    # Only these two of Wireshark's flags are read back (by the peer's next packet).
    sides["lastflags"][fwd] = zwp * TA_ZWP | ka * TA_KEEPALIVE
    return dupack, anyretx


def _duplicate_acks(
    st: Step, sides: State, same_ack_win: np.ndarray, zwp: np.ndarray, ack_moved: np.ndarray
) -> np.ndarray:
    """Duplicate ACKs (not keep-alive ACKs, not zero-window-probe ACKs) and the side's count
    of them, which a moved ACK resets."""
    fwd, win = st.fwd, st.win
    if not same_ack_win.any():
        sides["dupacknum"][fwd[ack_moved]] = 0
        return same_ack_win  # all False
    lastflags_r = sides["lastflags"][st.rev]
    ka_ack = ~zwp & same_ack_win & (win != 0) & ((lastflags_r & TA_KEEPALIVE) != 0)
    zwp_ack = same_ack_win & (win == 0) & ((lastflags_r & TA_ZWP) != 0)
    dupack = ~zwp & ~ka_ack & ~zwp_ack & same_ack_win & (win != 0)
    dn = sides["dupacknum"][fwd]
    dn = np.where(dupack, np.where(dn == -1, 1, dn + 1), dn)
    sides["dupacknum"][fwd] = np.where(ack_moved, 0, dn)
    return dupack


def _peer_max_seq_to_be_acked(st: Step, sides: State) -> None:
    """An ACK beyond what the peer is known to have sent: Wireshark's maxseqtobeacked."""
    rev = st.rev
    mr = sides["maxseqtobeacked"][rev]
    cond = (mr != 0) & st.hack & seq_gt(st.ack, mr)
    if cond.any():
        nr = sides["nextseq"][rev]
        sides["maxseqtobeacked"][rev] = np.where(cond & (mr > nr), nr, mr)
        sides["dupacknum"][rev[cond & ~(mr > nr)]] = -1


def _count(
    st: Step, sides: State, conns: State, p: Packets, dupack: np.ndarray, anyretx: np.ndarray
) -> None:
    """Our counters per side and per connection: packets, bytes, retransmissions, SYNs,
    the first FIN / RST, and the teardown's packets and duplicate ACKs."""
    fwd, n, d, syn, hack = st.fwd, st.n, st.d, st.syn, st.hack
    sides["pkts"][fwd] += 1
    sides["bytes"][fwd] += st.plen
    if anyretx.any():
        sides["retx"][fwd] += anyretx
        sides["syn_retx"][fwd] += syn & anyretx
    if st.any_syn:
        sides["syn"][fwd] += syn & ~hack
        sides["synack"][fwd] += syn & hack
        ss = (conns["syn_sender"][:n] == -1) & syn & ~hack
        conns["syn_sender"][:n][ss] = d[ss]
        sa = (conns["synack_sender"][:n] == -1) & syn & hack
        conns["synack_sender"][:n][sa] = d[sa]
    if st.any_fin or st.any_rst:
        end = p.end[st.a : st.b]
        _teardown_firsts(st, sides, conns, end, p.frame[st.a : st.b])
        # FIN at a position other than the side's first FIN: the tracker keeps a set of those
        p.odd_fin[st.a : st.b] = st.fin & (end != sides["ffin_seq"][fwd])
    td = ~np.isnan(conns["td_ts"][:n])
    if td.any():
        conns["td_pkts"][:n] += td
        conns["td_dupacks"][:n] += td & dupack


def _history_letters(st: Step, sides: State, p: Packets) -> None:
    """Zeek's CheckHistory: a letter the first time a kind is seen on a side, again when an
    S, F or R repeats at another sequence number; t and w letters at powers of ten of
    retransmitted data and of zero windows."""
    a, b, fwd = st.a, st.b, st.fwd
    kind = p.kind[a:b]
    kbit = p.kbit[a:b]
    hist = sides["hist_seen"][fwd]
    seen = (hist & kbit) != 0
    emit = (kind != K_NONE) & ~seen
    end = p.end[a:b]
    for k, col, val, present in (
        (K_S, "hl_syn", st.seq, st.any_syn),
        (K_F, "hl_fin", end, st.any_fin),
        (K_R, "hl_rst", st.seq, st.any_rst),
    ):
        if present:  # an S/H, F or R letter needs that flag
            is_k = (kind == k) | ((kind == K_H) & (k == K_S))
            last = sides[col][fwd]
            emit |= is_k & seen & (val != last)
            sides[col][fwd] = np.where(is_k, val, last)
    sides["hist_seen"][fwd] = hist | kbit
    p.letter[a:b] = np.where(emit, kind, K_NONE)

    dat = p.dat[a:b]
    if dat.any():
        me, mset = sides["max_end"][fwd], sides["max_end_set"][fwd] != 0
        ahead = seq_gt(end, me)
        rx = dat & mset & ~ahead
        if rx.any():
            rxmit = sides["rxmit"][fwd] + rx
            sides["rxmit"][fwd] = rxmit
            p.t_letter[a:b] = rx & np.isin(rxmit, POW10)
        sides["max_end"][fwd] = np.where(dat & (~mset | ahead), end, me)
        sides["max_end_set"][fwd] |= dat
    w0 = p.w0[a:b]
    if w0.any():
        win0 = sides["win0"][fwd] + w0
        sides["win0"][fwd] = win0
        p.w_letter[a:b] = w0 & np.isin(win0, POW10)


def _endpoint_states(st: Step, sides: State) -> None:
    """Zeek's TCP endpoint states. The RST, FIN and SYN branches exclude each other (rst,
    then fin & ~rst, then syn & ~fin & ~rst), so each runs only when its flag is present."""
    fwd, rev, syn, fin, rst, hack = st.fwd, st.rev, st.syn, st.fin, st.rst, st.hack
    fs = sides["state"][fwd]
    new_fs = fs
    new_rs = rs = sides["state"][rev]
    if st.any_rst:
        new_fs = np.where(rst & ~((fs == CLOSED) & (rs == CLOSED)), RESET, new_fs)
    if st.any_fin:
        new_fs = np.where(~rst & fin & (fs != RESET), CLOSED, new_fs)
    if st.any_syn:
        sb = ~rst & ~fin & syn
        c1 = sb & ((fs == INACTIVE) | (hack & (fs == PARTIAL)))
        new_fs = np.where(c1, np.where(hack, SYN_ACK_SENT, SYN_SENT), new_fs)
        est = sb & hack & (rs == SYN_SENT)
        new_rs = np.where(est, ESTABLISHED, rs)
        new_fs = np.where(est, ESTABLISHED, new_fs)
    eb = ~st.sfr
    new_fs = np.where(eb & (fs == INACTIVE), PARTIAL, new_fs)
    half = (fs == SYN_SENT) | (fs == SYN_ACK_SENT)
    if half.any():
        to_est = eb & half & hack & (rs != INACTIVE)
        new_fs = np.where(to_est, ESTABLISHED, new_fs)
    if st.any_fin:
        forgive = fin & (new_rs == RESET) & (sides["fin_before_rst"][rev] != 0)
        new_rs = np.where(forgive, CLOSED, new_rs)
    sides["state"][fwd] = new_fs
    if st.any_syn or st.any_fin:
        sides["state"][rev] = new_rs


def _first_rtt(st: Step, conns: State, p: Packets) -> None:
    """tshark's first RTT: from the latest pure SYN to the first pure ACK after it."""
    n = st.n
    mru = conns["mru_syn"][:n]
    if st.any_syn:
        mru = np.where(st.syn & ~st.hack, st.ts, mru)
        conns["mru_syn"][:n] = mru
    fr = conns["first_rtt"][:n]
    set_rtt = p.pure_ack[st.a : st.b] & (fr == 0.0) & ~np.isnan(mru)
    if set_rtt.any():
        conns["first_rtt"][:n] = np.where(set_rtt, st.ts - mru, fr)


def _teardown_firsts(
    st: Step, sides: State, conns: State, end: np.ndarray, frame: np.ndarray
) -> None:
    """First FIN / RST per side and per connection (only steps that carry one)."""
    fwd, n, ts, fin, rst = st.fwd, st.n, st.ts, st.fin, st.rst
    sides["fin"][fwd] += fin
    sides["rst"][fwd] += rst
    ff = fin & (sides["ffin_frame"][fwd] == -1)
    if ff.any():
        fx = fwd[ff]
        sides["ffin_frame"][fx] = frame[ff]
        sides["ffin_ts"][fx] = ts[ff]
        sides["ffin_seq"][fx] = end[ff]
        sides["ffin_ack"][fx] = np.where(st.hack[ff], st.ack[ff], -1)
    fr = rst & np.isnan(sides["frst_ts"][fwd])
    if fr.any():
        fx = fwd[fr]
        sides["frst_ts"][fx] = ts[fr]
        sides["fin_before_rst"][fx] = sides["fin"][fx] > 0
    lanes = np.arange(n)
    for kind, mask in (("fin", fin), ("rst", rst)):
        m = mask & (conns[f"f{kind}_frame_any"][:n] == -1)
        conns[f"f{kind}_frame_any"][lanes[m]] = frame[m]
        conns[f"f{kind}_ts_any"][lanes[m]] = ts[m]
    t = (fin | rst) & np.isnan(conns["td_ts"][:n])
    conns["td_ts"][lanes[t]] = ts[t]
