"""Per-event instruction counts from a harness run (stack_harness.c's marks).

A piece is one frame through the stack ("in" .. "end") or one pass of its timers ("poll" ..
"pend"). Inside a piece, each frame the stack sends ("tx") is charged from the latest entry
into tcp_output or tcp_rst (or the previous frame sent, or the piece's start) to its mark:
building and handing down that segment. The rest of the piece is the event's own work.

Events: syn (an inbound SYN; the SYN-ACK's sending counted apart), request (an inbound segment
carrying data: the app stand-in's C answer included), ack (a bare ACK), fin, rst (inbound),
other (ARP, ...), timer (a pass that entered tcp_tmr), loop (a pass without the TCP timer in
which the app served or sent: an app that answers from its main loop, as Arduino's
handleClient and MicroPython's socket loop do), idle (a pass that did neither: the host's
1 ms poll, not part of the model), send (each segment the stack sends), close
(each FIN or RST it sends, counted as a send too), response (each segment it sends that
carries data: the response's send, counted as a send too), app (the app stand-in's answer inside a
piece, http_answer: left out of the piece's own work; the app half of [timing] is measured on
the firmware's own runtime).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

BOUNDARY_FUNCTIONS = ("tcp_output", "tcp_rst", "tcp_tmr")
EVENT_ORDER = (
    "syn", "request", "ack", "fin", "rst", "other", "timer", "loop", "idle", "send", "close",
    "response", "app",
)  # fmt: skip
SYN, ACK, FIN, RST = 0x02, 0x10, 0x01, 0x04


@dataclass
class Piece:
    kind: str  # "in" or "poll"
    start: int
    flags: int = 0x100  # inbound TCP flags; 0x100: not TCP
    length: int = 0
    end: int = 0
    timer: bool = False
    # (tx flags, instructions, frame length) per segment sent
    sends: list[tuple[int, int, int]] = field(default_factory=list)
    app: list[int] = field(default_factory=list)  # the app stand-in's answers

    def own(self) -> int:
        return self.end - self.start - sum(n for _, n, _ in self.sends) - sum(self.app)


@dataclass(frozen=True)
class Distribution:
    n: int
    low: int
    median: float
    p90: float
    high: int
    mean: float

    @classmethod
    def of(cls, values: Sequence[int]) -> Distribution:
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
        return cls(
            len(ordered),
            ordered[0],
            statistics.median(ordered),
            p90,
            ordered[-1],
            statistics.fmean(ordered),
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "n": self.n,
            "min": self.low,
            "median": self.median,
            "p90": self.p90,
            "max": self.high,
            "mean": round(self.mean, 1),
        }


def _hex_fields(tag: str) -> list[int]:
    return [int(v, 16) for v in tag.split()[1:]]


def pieces(stream: Iterable[tuple[str, int]]) -> list[Piece]:
    """The stream of marks and function entries cut into pieces, sends charged."""
    done: list[Piece] = []
    current: Piece | None = None
    boundary = app_start = 0
    for name, count in stream:
        if name.startswith("in ") or name == "poll":
            current = Piece("in" if name != "poll" else "poll", count)
            if name != "poll":
                _, current.length, current.flags = _hex_fields(name)
            boundary = count
        elif current is None:
            continue
        elif name in ("@tcp_output", "@tcp_rst"):
            boundary = count
        elif name == "@tcp_tmr":
            current.timer = True
        elif name == "app":
            app_start = count
        elif name == "append":
            current.app.append(count - app_start)
            boundary = count
        elif name.startswith("tx "):
            length, flags, port = _hex_fields(name)
            if port:  # a TCP segment (ARP and other frames are the piece's own work)
                current.sends.append((flags, count - boundary, length))
            boundary = count
        elif name in ("end", "pend"):
            current.end = count
            done.append(current)
            current = None
    return done


def classify(piece: Piece) -> str:
    if piece.kind == "poll":
        if piece.timer:
            return "timer"
        return "loop" if piece.app or piece.sends else "idle"
    flags = piece.flags
    if flags == 0x100:
        return "other"
    if flags & RST:
        return "rst"
    if flags & SYN:
        return "syn"
    if flags & FIN:
        return "fin"
    # Ethernet 14 + IPv4 20 + TCP 20 (the client sends no TCP options after the SYN): more
    # than 54 bytes carries data. Frames are padded to 60, so test the IP length instead.
    return "request" if piece.length > 60 else "ack"


def event_counts(stream: Iterable[tuple[str, int]]) -> dict[str, list[int]]:
    """Event -> the instructions each occurrence took (sends and closes per segment)."""
    found: dict[str, list[int]] = {ev: [] for ev in EVENT_ORDER}
    for piece in pieces(stream):
        found[classify(piece)].append(piece.own())
        found["app"] += piece.app
        for flags, n, length in piece.sends:
            found["send"].append(n)
            if flags & (FIN | RST):
                found["close"].append(n)
            elif not flags & SYN and length > 54:  # Ethernet + IPv4 + TCP headers: 54 bytes
                found["response"].append(n)
    return found
