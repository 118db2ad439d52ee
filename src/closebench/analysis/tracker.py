"""One forward pass over TCP packets in file order, like tshark's: connections and flags.

Why a Python loop here: tshark's TCP analysis (retransmission, dup-ACK, keep-alive,
stream splitting) is a per-direction state machine whose every step depends on the
previous packet of *both* directions; it does not vectorise. Everything per packet that
does vectorise (header decoding) is done in numpy before; this loop only touches plain
ints, and state lives per connection (__slots__), never per packet.

Stream splitting (tshark 4.0 `tcp.stream`): packets are grouped by unordered 4-tuple;
a pure SYN (SYN without ACK) whose sequence number differs from the base sequence number
already recorded for that sender in the current connection starts a new connection.
A retransmitted SYN (same ISN) stays in the same one. The base sequence of a direction is
its SYN's ISN, else (first packet not a SYN) seq - 1, else ack - 1 of the first ACK from
the peer - exactly as Wireshark sets `base_seq`.
"""

from __future__ import annotations

from collections.abc import Callable

from closebench.analysis.decode import Decoded

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

# Zeek history "seen" bits (one letter per kind per direction unless the seq changes)
H_SYN, H_FIN, H_RST, H_FINRST, H_DATA, H_ACK, H_MULTI = 1, 2, 4, 8, 16, 32, 64


def seq_lt(a: int, b: int) -> bool:
    return a != b and ((b - a) & M32) < HALF


def seq_gt(a: int, b: int) -> bool:
    return a != b and ((a - b) & M32) < HALF


class Side:
    """One direction of a connection: tshark's per-flow analysis state plus our counters."""

    __slots__ = (
        "base_seq",
        "base_set",
        "bytes",
        "dupacknum",
        "fin",
        "fin_before_rst",
        "fin_retx",
        "fin_seqs",
        "first_fin_ack",
        "first_fin_seq",
        "first_fin_ts",
        "first_rst_ts",
        "hist_last_fin",
        "hist_last_rst",
        "hist_last_syn",
        "hist_seen",
        "lastack",
        "lastacktime",
        "lastflags",
        "max_end",
        "maxseqtobeacked",
        "nextseq",
        "nextseqtime",
        "pkts",
        "retx",
        "rst",
        "rxmit",
        "state",
        "syn",
        "syn_retx",
        "synack",
        "win0",
        "window",
    )

    def __init__(self) -> None:
        self.base_seq = 0
        self.base_set = False
        self.nextseq = 0
        self.nextseqtime = 0.0
        self.lastack = 0
        self.lastacktime = 0.0
        self.window = -1
        self.dupacknum = 0
        self.lastflags = 0
        self.maxseqtobeacked = 0
        self.pkts = self.bytes = self.syn = self.synack = self.fin = self.rst = 0
        self.retx = self.fin_retx = self.syn_retx = 0
        self.first_fin_ts: float | None = None
        self.first_fin_seq = 0  # sequence number the FIN occupies
        self.first_fin_ack: int | None = None  # ack carried by the first FIN (None: no ACK)
        self.first_rst_ts: float | None = None
        self.fin_before_rst = False
        self.fin_seqs: set[int] = set()
        self.hist_seen = 0
        self.hist_last_syn = self.hist_last_fin = self.hist_last_rst = -1
        self.rxmit = self.win0 = 0
        self.max_end: int | None = None
        self.state = INACTIVE


class Conn:
    """One TCP connection (one tshark stream)."""

    __slots__ = (
        "a",
        "b",
        "ep_a",
        "ep_b",
        "first_fin_ts_any",
        "first_frame",
        "first_rst_ts_any",
        "first_rtt",
        "first_sender",
        "first_ts",
        "flipped",
        "handshake_acked",
        "history",
        "last_ts",
        "mru_syn",
        "orig",
        "pkts",
        "stream",
        "syn_sender",
        "synack_sender",
        "teardown_dupacks",
        "teardown_pkts",
        "teardown_ts",
    )

    def __init__(self, stream: int, ep_a: int, ep_b: int, frame: int, ts: float) -> None:
        self.stream = stream
        self.ep_a, self.ep_b = ep_a, ep_b  # ep_a < ep_b
        self.a, self.b = Side(), Side()
        self.first_frame = frame
        self.first_ts = self.last_ts = ts
        self.pkts = 0
        self.mru_syn: float | None = None
        self.first_rtt = 0.0
        self.syn_sender: int | None = None  # endpoint that sent the first pure SYN
        self.synack_sender: int | None = None
        self.first_sender = 0
        self.orig: int | None = None  # Zeek originator endpoint
        self.flipped = False
        self.history: list[str] = []
        self.teardown_ts: float | None = None
        self.teardown_pkts = 0
        self.teardown_dupacks = 0
        self.first_fin_ts_any: float | None = None
        self.first_rst_ts_any: float | None = None
        self.handshake_acked = False


class Tracker:
    """Feed Decoded chunks in file order; connections come out through `on_done`."""

    def __init__(self, on_done: Callable[[Conn], None]) -> None:
        self.live: dict[tuple[int, int], Conn] = {}
        self.next_stream = 0
        self.on_done = on_done
        self.packets = 0

    def feed(self, d: Decoded) -> None:
        live = self.live
        cols = zip(
            d.ts.tolist(),
            d.src.tolist(),
            d.dst.tolist(),
            d.seq.tolist(),
            d.ack.tolist(),
            d.flags.tolist(),
            d.win.tolist(),
            d.plen.tolist(),
            d.frame.tolist(),
            strict=True,
        )
        for ts, src, dst, seq, ack, flags, win, plen, frame in cols:
            key = (src, dst) if src < dst else (dst, src)
            conn = live.get(key)
            if conn is None:
                conn = self._new(key, frame, ts)
            elif flags & (SYN | ACK) == SYN:
                fwd = conn.a if src == conn.ep_a else conn.b
                if fwd.base_set and seq != fwd.base_seq:
                    self.on_done(conn)  # port reuse: the old connection is unreachable now
                    conn = self._new(key, frame, ts)
            self.packets += 1
            _packet(conn, src, ts, seq, ack, flags, win, plen)

    def _new(self, key: tuple[int, int], frame: int, ts: float) -> Conn:
        conn = Conn(self.next_stream, key[0], key[1], frame, ts)
        self.next_stream += 1
        self.live[key] = conn
        return conn

    def finish(self) -> None:
        for conn in sorted(self.live.values(), key=lambda c: c.stream):
            self.on_done(conn)
        self.live.clear()


def _history(conn: Conn, is_orig: bool, letter: str) -> None:
    conn.history.append(letter.upper() if is_orig else letter.lower())


def _check(conn: Conn, side: Side, is_orig: bool, bit: int, letter: str) -> bool:
    """Zeek CheckHistory: add the letter the first time; True if it was seen before."""
    if side.hist_seen & bit:
        return True
    side.hist_seen |= bit
    _history(conn, is_orig, letter)
    return False


def _scaled(conn: Conn, is_orig: bool, count: int, letter: str) -> None:
    """Zeek's logarithmic letters: at the 1st, 10th, 100th ... occurrence."""
    threshold = 1
    while threshold <= count:
        if count == threshold:
            _history(conn, is_orig, letter)
            return
        threshold *= 10


def _packet(
    conn: Conn, src: int, ts: float, seq: int, ack: int, flags: int, win: int, plen: int
) -> None:
    is_a = src == conn.ep_a
    fwd, rev = (conn.a, conn.b) if is_a else (conn.b, conn.a)
    conn.pkts += 1
    conn.last_ts = ts
    if conn.pkts == 1:
        conn.first_sender = src
    fwd.pkts += 1
    fwd.bytes += plen
    syn, fin, rst, has_ack = flags & SYN, flags & FIN, flags & RST, flags & ACK

    ta = _seq_analysis(conn, fwd, rev, ts, seq, ack, flags, win, plen)

    # Our counters
    if syn:
        if has_ack:
            fwd.synack += 1
            if conn.synack_sender is None:
                conn.synack_sender = src
        else:
            fwd.syn += 1
            if conn.syn_sender is None:
                conn.syn_sender = src
        if ta & TA_ANY_RETX:
            fwd.syn_retx += 1
    if ta & TA_ANY_RETX:
        fwd.retx += 1
    if fin:
        fin_seq = (seq + plen) & M32
        # A FIN retransmission repeats a sequence position this side already used for a FIN.
        if fin_seq in fwd.fin_seqs:
            fwd.fin_retx += 1
        fwd.fin_seqs.add(fin_seq)
        fwd.fin += 1
        if fwd.first_fin_ts is None:
            fwd.first_fin_ts = ts
            fwd.first_fin_seq = fin_seq
            fwd.first_fin_ack = ack if has_ack else None
        if conn.first_fin_ts_any is None:
            conn.first_fin_ts_any = ts
    if rst:
        fwd.rst += 1
        if fwd.first_rst_ts is None:
            fwd.first_rst_ts = ts
            fwd.fin_before_rst = fwd.fin > 0
        if conn.first_rst_ts_any is None:
            conn.first_rst_ts_any = ts
    if (fin or rst) and conn.teardown_ts is None:
        conn.teardown_ts = ts
    if conn.teardown_ts is not None:
        conn.teardown_pkts += 1
        if ta & TA_DUPACK:
            conn.teardown_dupacks += 1

    _zeek(conn, fwd, rev, src, seq, flags, win, plen, ta)

    # tshark's first-RTT (used for the out-of-order threshold) after the analysis
    if syn and not has_ack:
        conn.mru_syn = ts
    if (flags & (SYN | ACK)) == ACK and conn.mru_syn is not None and conn.first_rtt == 0.0:
        conn.first_rtt = ts - conn.mru_syn


def _seq_analysis(
    conn: Conn,
    fwd: Side,
    rev: Side,
    ts: float,
    seq: int,
    ack: int,
    flags: int,
    win: int,
    plen: int,
) -> int:
    """Wireshark's tcp_analyze_sequence_number(), the parts that decide our counters."""
    ta = 0
    if not fwd.base_set:
        fwd.base_seq = seq if flags & SYN else (seq - 1) & M32
        fwd.base_set = True
    if not rev.base_set and flags & ACK:
        rev.base_seq = (ack - 1) & M32
        rev.base_set = True
    nextseq_f = fwd.nextseq
    same_ack_win = (
        plen == 0
        and win == fwd.window
        and seq == nextseq_f
        and ack == fwd.lastack
        and not flags & SFR
    )
    if plen == 1 and seq == nextseq_f and rev.window == 0:
        ta |= TA_ZWP
    else:
        if plen <= 1 and seq == ((nextseq_f - 1) & M32) and not flags & SFR:
            ta |= TA_KEEPALIVE
        if same_ack_win and win and rev.lastflags & TA_KEEPALIVE:
            ta |= TA_KA_ACK
        elif same_ack_win and win == 0 and rev.lastflags & TA_ZWP:
            pass
        elif same_ack_win and win:
            fwd.dupacknum = 1 if fwd.dupacknum == -1 else fwd.dupacknum + 1
            ta |= TA_DUPACK
    # finished_fwd
    if ack != fwd.lastack:
        fwd.dupacknum = 0
    if rev.maxseqtobeacked and flags & ACK and seq_gt(ack, rev.maxseqtobeacked):
        if rev.maxseqtobeacked > rev.nextseq:  # unsigned compare, as in Wireshark
            rev.maxseqtobeacked = rev.nextseq
        else:
            rev.dupacknum = -1

    synfin = 1 if flags & (SYN | FIN) else 0
    if (plen > 0 or synfin) and not ta & TA_KEEPALIVE:
        not_adv = nextseq_f != 0 and seq_lt(seq, nextseq_f)
        if plen > 1 and ((nextseq_f - 1) & M32) == seq:
            not_adv = False
        end = (seq + plen) & M32
        if plen > 0 and rev.lastack and (end == rev.lastack or seq_lt(end, rev.lastack)):
            ta |= TA_SPURIOUS
        elif not_adv and rev.dupacknum >= 2 and rev.lastack == seq and ts - rev.lastacktime < 0.020:
            ta |= TA_FAST
        elif (
            not_adv
            and ts - fwd.nextseqtime < (conn.first_rtt or 0.003)
            and nextseq_f != ((seq + plen + synfin) & M32)
        ):
            ta |= TA_OOO
        elif not_adv:
            ta |= TA_RETX

    nextseq = (seq + plen + synfin) & M32
    # tshark 4.0 does not let a RST move nextseq (seen on sv_tls-subjectaltname streams 7/8:
    # an out-of-window RST must not turn the following data into "retransmissions").
    advance = not ta & TA_ZWP and not flags & RST
    if (seq_gt(nextseq, nextseq_f) or not nextseq_f) and advance:
        fwd.nextseq = nextseq
        fwd.nextseqtime = ts
    if (seq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked) and advance:
        fwd.maxseqtobeacked = fwd.nextseq
    fwd.window = win
    fwd.lastack = ack
    fwd.lastacktime = ts
    fwd.lastflags = ta
    return ta


def _zeek(
    conn: Conn,
    fwd: Side,
    rev: Side,
    src: int,
    seq: int,
    flags: int,
    win: int,
    plen: int,
    ta: int,
) -> None:
    """Zeek-style endpoint state and history letters (orig = upper case)."""
    syn, fin, rst, has_ack = flags & SYN, flags & FIN, flags & RST, flags & ACK
    if conn.orig is None:
        # Zeek flips when the first packet it sees is a SYN-ACK: the receiver is the orig.
        if syn and has_ack:
            conn.orig = conn.ep_b if src == conn.ep_a else conn.ep_a
            conn.flipped = True
            conn.history.append("^")
        else:
            conn.orig = src
    is_orig = src == conn.orig

    bits = (1 if syn else 0) + (1 if fin else 0) + (1 if rst else 0)
    if bits > 1:
        if fin and rst:
            _check(conn, fwd, is_orig, H_FINRST, "i")
        else:
            _check(conn, fwd, is_orig, H_MULTI, "q")
    elif bits == 1:
        if syn:
            code = "h" if has_ack else "s"
            if _check(conn, fwd, is_orig, H_SYN, code) and seq != fwd.hist_last_syn:
                _history(conn, is_orig, code)
            fwd.hist_last_syn = seq
        if fin:
            fin_pos = (seq + plen) & M32
            if _check(conn, fwd, is_orig, H_FIN, "f") and fin_pos != fwd.hist_last_fin:
                _history(conn, is_orig, "f")
            fwd.hist_last_fin = fin_pos
        if rst:
            if _check(conn, fwd, is_orig, H_RST, "r") and seq != fwd.hist_last_rst:
                _history(conn, is_orig, "r")
            fwd.hist_last_rst = seq
    elif plen:
        _check(conn, fwd, is_orig, H_DATA, "d")
    elif has_ack:
        _check(conn, fwd, is_orig, H_ACK, "a")

    if plen > 0 and not syn:
        end = (seq + plen) & M32
        if fwd.max_end is not None and not seq_gt(end, fwd.max_end):
            fwd.rxmit += 1
            _scaled(conn, is_orig, fwd.rxmit, "t")
        if fwd.max_end is None or seq_gt(end, fwd.max_end):
            fwd.max_end = end
    if win == 0 and not flags & SFR:
        fwd.win0 += 1
        _scaled(conn, is_orig, fwd.win0, "w")

    # Endpoint state machine (the parts conn_state() reads)
    if rst:
        if fwd.state == CLOSED and rev.state == CLOSED:
            pass  # a RST after a full FIN exchange does not change Zeek's view (SF)
        else:
            fwd.state = RESET
    elif fin:
        if fwd.state != RESET:
            fwd.state = CLOSED
    elif syn:
        if fwd.state == INACTIVE or (has_ack and fwd.state == PARTIAL):
            fwd.state = SYN_ACK_SENT if has_ack else SYN_SENT
        if has_ack and rev.state == SYN_SENT:
            rev.state = ESTABLISHED
            fwd.state = ESTABLISHED
    else:
        if fwd.state == INACTIVE:
            fwd.state = PARTIAL
        elif fwd.state in (SYN_SENT, SYN_ACK_SENT) and has_ack and rev.state != INACTIVE:
            fwd.state = ESTABLISHED
    if fin and rev.state == RESET and rev.fin_before_rst:
        rev.state = CLOSED  # FIN+RST from the peer, then our FIN: Zeek forgives the RST
