"""tshark's sequence analysis and Zeek's endpoint/history logic, vectorised across connections.

Why "lockstep": the analysis is a per-connection state machine (every packet depends on the
previous packets of both directions), so it cannot be vectorised along time. It can be
vectorised across connections: step k processes the k-th packet (of this chunk) of every
connection at once, with state in arrays. Lanes are one per connection (stream splits are
decided beforehand, streams.py) and sorted by packet count, so the lanes of step k are a
prefix 0..L_k-1 and every array operation works on contiguous slices. Blocks that only
matter for some packets (SYN, FIN / RST, retransmissions, zero windows, dup ACKs) run only
in the steps that hold such a packet. Measured on the 1 M bench capture: 64 steps, ~0.35
ms per step plus ~0.14 us per packet, ~0.18 s in all (was 336 steps, ~0.55 s). A
connection with very many packets in one chunk and few others beside it still costs one
step per packet: see the module docstring of tracker.py for that limit.

The rules are a line-by-line port of the former per-packet code (Wireshark
tcp_analyze_sequence_number and Zeek's TCP endpoint state / CheckHistory), kept in the
same order; comments name the Python statement each block mirrors.
"""

from __future__ import annotations

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


def step(s: dict[str, np.ndarray], c: dict[str, np.ndarray], p: Packets, a: int, b: int) -> None:
    """Process packets p[a:b], one per lane 0..b-a-1 (lane j's state at s[2j+d], c[j]).

    Blocks that cannot change anything for this step's packets are skipped (`if x.any()`):
    e.g. most steps carry no SYN, no retransmission, no zero window. Each skip is exact:
    the skipped statements would have stored back the values already there.
    """
    n = b - a
    d = p.d[a:b]
    fi = 2 * np.arange(n) + d  # this packet's direction ("fwd")
    ri = fi ^ 1  # the peer's direction ("rev")
    ts, seq, ack, win, plen = p.ts[a:b], p.seq[a:b], p.ack[a:b], p.win[a:b], p.plen[a:b]
    syn, fin, rst, hack = p.syn[a:b], p.fin[a:b], p.rst[a:b], p.hack[a:b]
    sfr = p.sfr[a:b]
    any_syn, any_fin, any_rst = bool(syn.any()), bool(fin.any()), bool(rst.any())

    # -- first packet of a lane's connection: started / orig / "^" (Tracker._new, _zeek)
    started = c["started"][:n]
    first = started == 0
    if first.any():
        fl = np.nonzero(first)[0]
        c["first_frame"][fl] = p.frame[a:b][fl]
        c["first_ts"][fl] = ts[fl]
        flip = syn[fl] & hack[fl]
        c["orig"][fl] = np.where(flip, 1 - d[fl], d[fl])
        p.caret[a + fl] = flip
        started[fl] = 1
    c["last_ts"][:n] = ts
    p.upper[a:b] = d == c["orig"][:n]

    # -- _seq_analysis (the base sequence numbers are set by streams.py)
    nf = s["nextseq"][fi]
    lastack_f = s["lastack"][fi]
    nfm1 = (nf - 1) & M32
    seq_at_nf = seq == nf
    same_ack_win = (plen == 0) & seq_at_nf & (ack == lastack_f) & (win == s["window"][fi]) & ~sfr
    zwp = (plen == 1) & seq_at_nf
    if zwp.any():
        zwp &= s["window"][ri] == 0
    ka = ~zwp & (plen <= 1) & (seq == nfm1) & ~sfr
    ack_moved = ack != lastack_f
    if same_ack_win.any():
        lastflags_r = s["lastflags"][ri]
        ka_ack = ~zwp & same_ack_win & (win != 0) & ((lastflags_r & TA_KEEPALIVE) != 0)
        zwp_ack = same_ack_win & (win == 0) & ((lastflags_r & TA_ZWP) != 0)
        dupack = ~zwp & ~ka_ack & ~zwp_ack & same_ack_win & (win != 0)
        dn = s["dupacknum"][fi]
        dn = np.where(dupack, np.where(dn == -1, 1, dn + 1), dn)
        s["dupacknum"][fi] = np.where(ack_moved, 0, dn)  # finished_fwd
    else:
        dupack = same_ack_win  # all False
        moved = fi[ack_moved]
        s["dupacknum"][moved] = 0
    mr = s["maxseqtobeacked"][ri]
    cond = (mr != 0) & hack & seq_gt(ack, mr)
    if cond.any():
        nr = s["nextseq"][ri]
        s["maxseqtobeacked"][ri] = np.where(cond & (mr > nr), nr, mr)
        s["dupacknum"][ri[cond & ~(mr > nr)]] = -1

    end = p.end[a:b]
    la_r = s["lastack"][ri]
    spurious = p.data[a:b] & ~ka
    if spurious.any():
        spurious &= (la_r != 0) & ((end == la_r) | seq_lt(end, la_r))
    rest = p.consider[a:b] & ~ka & ~spurious & (nf != 0) & seq_lt(seq, nf)
    rest &= ~((plen > 1) & (nfm1 == seq))
    nxt = p.nxt[a:b]
    if rest.any():
        dn_r = s["dupacknum"][ri]
        fast = rest & (dn_r >= 2) & (la_r == seq) & (ts - s["lastacktime"][ri] < 0.020)
        rest &= ~fast
        rtt = c["first_rtt"][:n]
        rtt = np.where(rtt != 0, rtt, 0.003)
        ooo = rest & (ts - s["nextseqtime"][fi] < rtt) & (nf != nxt)
        anyretx = spurious | fast | (rest & ~ooo)
    else:
        anyretx = spurious
    advance = ~zwp & ~rst
    upd = (seq_gt(nxt, nf) | (nf == 0)) & advance
    new_nf = np.where(upd, nxt, nf)
    s["nextseq"][fi] = new_nf
    s["nextseqtime"][fi[upd]] = ts[upd]
    ms = s["maxseqtobeacked"][fi]
    s["maxseqtobeacked"][fi] = np.where(((seq == ms) | (ms == 0)) & advance, new_nf, ms)
    s["window"][fi] = win
    s["lastack"][fi] = ack
    s["lastacktime"][fi] = ts
    # Only these two of Wireshark's flags are read back (by the peer's next packet).
    s["lastflags"][fi] = zwp * TA_ZWP | ka * TA_KEEPALIVE

    # -- our counters (_packet)
    s["pkts"][fi] += 1
    s["bytes"][fi] += plen
    if anyretx.any():
        s["retx"][fi] += anyretx
        s["syn_retx"][fi] += syn & anyretx
    if any_syn:
        s["syn"][fi] += syn & ~hack
        s["synack"][fi] += syn & hack
        ss = (c["syn_sender"][:n] == -1) & syn & ~hack
        c["syn_sender"][:n][ss] = d[ss]
        sa = (c["synack_sender"][:n] == -1) & syn & hack
        c["synack_sender"][:n][sa] = d[sa]
    if any_fin or any_rst:
        frame = p.frame[a:b]
        _teardown_firsts(s, c, fi, n, d, ts, seq, ack, hack, fin, rst, end, frame)
        # FIN at a position other than the side's first FIN: the tracker keeps a set of those
        p.odd_fin[a:b] = fin & (end != s["ffin_seq"][fi])
    td = ~np.isnan(c["td_ts"][:n])
    if td.any():
        c["td_pkts"][:n] += td
        c["td_dupacks"][:n] += td & dupack

    # -- _zeek: history letters and endpoint states
    kind = p.kind[a:b]
    kbit = p.kbit[a:b]
    hist = s["hist_seen"][fi]
    seen = (hist & kbit) != 0
    emit = (kind != K_NONE) & ~seen
    for k, col, val, present in (
        (K_S, "hl_syn", seq, any_syn),
        (K_F, "hl_fin", end, any_fin),
        (K_R, "hl_rst", seq, any_rst),
    ):
        if present:  # an S/H, F or R letter needs that flag
            is_k = (kind == k) | ((kind == K_H) & (k == K_S))
            last = s[col][fi]
            emit |= is_k & seen & (val != last)
            s[col][fi] = np.where(is_k, val, last)
    s["hist_seen"][fi] = hist | kbit
    p.letter[a:b] = np.where(emit, kind, K_NONE)

    dat = p.dat[a:b]
    if dat.any():
        me, mset = s["max_end"][fi], s["max_end_set"][fi] != 0
        ahead = seq_gt(end, me)
        rx = dat & mset & ~ahead
        if rx.any():
            rxmit = s["rxmit"][fi] + rx
            s["rxmit"][fi] = rxmit
            p.t_letter[a:b] = rx & np.isin(rxmit, POW10)
        s["max_end"][fi] = np.where(dat & (~mset | ahead), end, me)
        s["max_end_set"][fi] |= dat
    w0 = p.w0[a:b]
    if w0.any():
        win0 = s["win0"][fi] + w0
        s["win0"][fi] = win0
        p.w_letter[a:b] = w0 & np.isin(win0, POW10)

    # Endpoint states; the RST, FIN and SYN branches exclude each other (rst, then
    # fin & ~rst, then syn & ~fin & ~rst), so each runs only when its flag is present.
    fs = s["state"][fi]
    new_fs = fs
    if any_syn or any_fin or any_rst:
        rs = s["state"][ri]
        new_rs = rs
        if any_rst:
            new_fs = np.where(rst & ~((fs == CLOSED) & (rs == CLOSED)), RESET, new_fs)
        if any_fin:
            new_fs = np.where(~rst & fin & (fs != RESET), CLOSED, new_fs)
        if any_syn:
            sb = ~rst & ~fin & syn
            c1 = sb & ((fs == INACTIVE) | (hack & (fs == PARTIAL)))
            new_fs = np.where(c1, np.where(hack, SYN_ACK_SENT, SYN_SENT), new_fs)
            est = sb & hack & (rs == SYN_SENT)
            new_rs = np.where(est, ESTABLISHED, rs)
            new_fs = np.where(est, ESTABLISHED, new_fs)
    eb = ~sfr
    new_fs = np.where(eb & (fs == INACTIVE), PARTIAL, new_fs)
    half = (fs == SYN_SENT) | (fs == SYN_ACK_SENT)
    if half.any():
        to_est = eb & half & hack & (s["state"][ri] != INACTIVE)
        new_fs = np.where(to_est, ESTABLISHED, new_fs)
    if any_fin:
        forgive = fin & (new_rs == RESET) & (s["fin_before_rst"][ri] != 0)
        new_rs = np.where(forgive, CLOSED, new_rs)
    s["state"][fi] = new_fs
    if any_syn or any_fin:
        s["state"][ri] = new_rs

    # -- tshark's first RTT, after the analysis
    mru = c["mru_syn"][:n]
    if any_syn:
        mru = np.where(syn & ~hack, ts, mru)
        c["mru_syn"][:n] = mru
    fr = c["first_rtt"][:n]
    set_rtt = p.pure_ack[a:b] & (fr == 0.0) & ~np.isnan(mru)
    if set_rtt.any():
        c["first_rtt"][:n] = np.where(set_rtt, ts - mru, fr)


def _teardown_firsts(
    s: dict[str, np.ndarray],
    c: dict[str, np.ndarray],
    fi: np.ndarray,
    n: int,
    d: np.ndarray,
    ts: np.ndarray,
    seq: np.ndarray,
    ack: np.ndarray,
    hack: np.ndarray,
    fin: np.ndarray,
    rst: np.ndarray,
    end: np.ndarray,
    frame: np.ndarray,
) -> None:
    """First FIN / RST per side and per connection (only steps that carry one)."""
    s["fin"][fi] += fin
    s["rst"][fi] += rst
    ff = fin & (s["ffin_frame"][fi] == -1)
    if ff.any():
        fx = fi[ff]
        s["ffin_frame"][fx] = frame[ff]
        s["ffin_ts"][fx] = ts[ff]
        s["ffin_seq"][fx] = end[ff]
        s["ffin_ack"][fx] = np.where(hack[ff], ack[ff], -1)
    fr = rst & np.isnan(s["frst_ts"][fi])
    if fr.any():
        fx = fi[fr]
        s["frst_ts"][fx] = ts[fr]
        s["fin_before_rst"][fx] = s["fin"][fx] > 0
    lanes = np.arange(n)
    for kind, mask in (("fin", fin), ("rst", rst)):
        m = mask & (c[f"f{kind}_frame_any"][:n] == -1)
        c[f"f{kind}_frame_any"][lanes[m]] = frame[m]
        c[f"f{kind}_ts_any"][lanes[m]] = ts[m]
    t = (fin | rst) & np.isnan(c["td_ts"][:n])
    c["td_ts"][lanes[t]] = ts[t]
