"""One scripted TCP connection from the probe's side: sequence bookkeeping and the small
exchanges every probe is made of (handshake, request, device-first close, liveness check).

Nothing here acknowledges anything by itself: each probe decides which segment it ACKs,
because "the client never ACKs the FIN" is exactly what several probes measure.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass, field

from closebench.probes.wire import Seg, Wire

MOD = 2**32
REQUEST = b"HEAD / HTTP/1.1\r\nHost: 198.18.0.2\r\nConnection: close\r\n\r\n"


def seq_add(a: int, b: int) -> int:
    return (a + b) % MOD


@dataclass
class CloseOutcome:
    """How the device ended its side after a request: 'fin', 'rst' or 'none' (timed out)."""

    kind: str
    t: float | None = None  # when the FIN/RST arrived
    data_t: float | None = None  # when the last response byte arrived
    data_bytes: int = 0
    segments: list[Seg] = field(default_factory=list)


class Conn:
    """A 4-tuple (probe IP:sport <-> device:80) and both sides' sequence numbers."""

    def __init__(self, wire: Wire, sport: int) -> None:
        self.wire = wire
        self.sport = sport
        self.iss = (sport * 104729 + 12345) % MOD  # deterministic, spread out per port
        self.snd_nxt = self.iss
        self.rcv_nxt = 0  # device's next sequence number we expect
        self.fin_seq: int | None = None  # sequence number of the device's FIN
        self.q = wire.register(sport)

    # -- primitives ------------------------------------------------------------------------

    def send(
        self, flags: str, *, seq: int | None = None, ack: int | None = None, data: bytes = b""
    ) -> float:
        """Send; a segment at snd_nxt advances snd_nxt by what it occupies."""
        use_seq = self.snd_nxt if seq is None else seq % MOD
        use_ack = self.rcv_nxt if ack is None else ack % MOD
        t = self.wire.send(self.sport, flags, use_seq, use_ack, data)
        if use_seq == self.snd_nxt:
            self.snd_nxt = seq_add(self.snd_nxt, len(data) + ("S" in flags) + ("F" in flags))
        return t

    def recv(self, timeout: float) -> Seg | None:
        try:
            return self.q.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None

    def drain(self) -> list[Seg]:
        out = []
        while True:
            try:
                out.append(self.q.get_nowait())
            except queue.Empty:
                return out

    def wait(self, pred, timeout: float) -> Seg | None:  # type: ignore[no-untyped-def]
        """The first segment matching pred within timeout (others are dropped)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            seg = self.recv(left)
            if seg is not None and pred(seg):
                return seg
        return None

    def answer(self, timeout: float) -> str:
        """Classify the first reply within timeout: syn-ack, rst, ack, fin, data or silent."""
        seg = self.recv(timeout)
        return classify(seg)

    # -- exchanges -------------------------------------------------------------------------

    def connect(self, timeout: float = 1.5) -> str:
        """Handshake. Returns 'syn-ack' (and completes it), 'rst' or 'silent'."""
        self.send("S", ack=0)
        seg = self.wait(lambda s: s.has("R") or (s.has("S") and s.has("A")), timeout)
        if seg is None:
            return "silent"
        if seg.has("R"):
            return "rst"
        self.rcv_nxt = seq_add(seg.seq, 1)
        self.send("A")
        return "syn-ack"

    def request(self, data: bytes = REQUEST) -> float:
        return self.send("PA", data=data)

    def read_until_close(
        self, timeout: float, *, ack_data: bool = True, ack_fin: bool = True
    ) -> CloseOutcome:
        """Read the response until the device's FIN or RST, ACKing as told."""
        out = CloseOutcome("none")
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            seg = self.recv(left)
            if seg is None:
                break
            out.segments.append(seg)
            if seg.has("R"):
                out.kind, out.t = "rst", seg.t
                return out
            if seg.seq != self.rcv_nxt or seg.has("S"):
                continue  # retransmission or out of order: nothing new
            if seg.payload:
                self.rcv_nxt = seq_add(self.rcv_nxt, len(seg.payload))
                out.data_t, out.data_bytes = seg.t, out.data_bytes + len(seg.payload)
            if seg.has("F"):
                self.fin_seq = self.rcv_nxt
                if ack_fin:
                    self.rcv_nxt = seq_add(self.rcv_nxt, 1)
                    self.send("A")
                elif ack_data and seg.payload:
                    self.send("A")  # acknowledges the data only, not the FIN
                out.kind, out.t = "fin", seg.t
                return out
            if seg.payload and ack_data:
                self.send("A")
        return out

    def ack_fin(self) -> float:
        """ACK the device's FIN (after read_until_close(ack_fin=False))."""
        if self.fin_seq is not None:
            self.rcv_nxt = seq_add(self.fin_seq, 1)
        return self.send("A")

    def liveness(self, timeout: float = 0.6) -> str:
        """Is the PCB still there? An old zero-length segment (keepalive-style, one below
        snd_nxt) draws an ACK from a live connection and a RST when the stack has none.
        It carries no data, so it neither refreshes lwIP's timers with RX closed nor
        advances anything. Returns 'alive', 'gone' or 'silent'."""
        ack = self.fin_seq if self.fin_seq is not None and self.rcv_nxt == self.fin_seq else None
        self.drain()
        self.send("A", seq=seq_add(self.snd_nxt, -1), ack=ack)
        seg = self.recv(timeout)
        if seg is None:
            return "silent"
        return "gone" if seg.has("R") else "alive"

    def abort(self) -> None:
        """RST at exactly snd_nxt: every stack accepts it and frees the connection."""
        self.send("R", ack=0)


def classify(seg: Seg | None) -> str:
    if seg is None:
        return "silent"
    if seg.has("R"):
        return "rst"
    if seg.has("S") and seg.has("A"):
        return "syn-ack"
    if seg.has("F"):
        return "fin"
    if seg.payload:
        return "data"
    return "ack"


def close_into_time_wait(conn: Conn, timeout: float = 6.0) -> float | None:
    """Device-first close into TIME_WAIT on the device: request, ACK its response and FIN,
    send our FIN, wait for its ACK. Returns when the device entered TIME_WAIT (our FIN's
    send time), or None when the device did not close with a FIN."""
    if conn.connect() != "syn-ack":
        return None
    conn.request()
    out = conn.read_until_close(timeout)
    if out.kind != "fin":
        return None
    t = conn.send("FA")
    conn.wait(lambda s: s.has("A") and s.ack == conn.snd_nxt, 1.0)
    return t
