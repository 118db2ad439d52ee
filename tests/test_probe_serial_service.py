"""serial_service's watch decides by the segments' receive stamps, not by the order it reads
its two connections: a full compare's verify once called Arduino 3.1 "concurrent" because B's
answer was read before A's FIN, which the device had sent first (same millisecond, FIN first in
the probe's own trace)."""

from __future__ import annotations

from collections import deque

from closebench.probes.catalog import load_probe
from closebench.probes.wire import Seg


def _seg(t: float, flags: str, payload: bytes = b"") -> Seg:
    return Seg(t=t, sport=80, dport=40000, flags=flags, seq=1, ack=1, win=1000, payload=payload)


class _Conn:
    """A connection whose segments become readable in the given order (None: not yet)."""

    def __init__(self, *reads: Seg | None) -> None:
        self.reads = deque(reads)

    def recv(self, timeout: float) -> Seg | None:
        return self.reads.popleft() if self.reads else None


def test_a_fin_read_after_the_answer_but_stamped_before_it_counts() -> None:
    watch = load_probe("serial_service")._watch
    # A's FIN is not yet readable when A is read; B's answer is; then A's FIN shows up
    a = _Conn(None, _seg(0.425, "FA"))
    b = _Conn(_seg(0.4251, "PA", b"HTTP/1.1 200 OK"))
    assert watch(a, b, until=float("inf")) == (0.425, 0.4251)


def test_a_fin_after_the_answer_does_not_count() -> None:
    watch = load_probe("serial_service")._watch
    a = _Conn(None, _seg(0.9, "FA"))
    b = _Conn(_seg(0.425, "PA", b"HTTP/1.1 200 OK"))
    assert watch(a, b, until=float("inf")) == (None, 0.425)
