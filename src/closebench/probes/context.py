"""What a probe script gets (ProbeContext) and what it gives back (Observation)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from closebench.probes.conn import Conn
from closebench.probes.wire import Wire

FIRST_PORT = 40000


@dataclass
class Observation:
    """One measured behaviour. `behaviour` is the [expect] key it is judged against.

    bound: None for an exact measurement, "lower" when the observation window ended first
    (the true value is >= measured), "upper" when it is <= measured.
    """

    behaviour: str
    measured: Any
    detail: str = ""
    bound: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ProbeContext:
    """Runs inside the sandbox; probes only see the wire, the kind and the expectations."""

    wire: Wire
    kind: str  # "lwip" or "linux"
    close_mode: str  # the variant's emulation.close ("linux-kernel" for the reference)
    expect: dict[str, Any]  # [expect] values (plain), to choose fast paths and windows
    max_observe_s: float
    log: Callable[[str], None] = print
    device_csv: str | None = None  # the device's timeline (heap_free, alloc_fail), as it writes it
    _next_port: int = FIRST_PORT

    def conn(self) -> Conn:
        port = self._next_port
        self._next_port += 1
        return Conn(self.wire, port)

    def now(self) -> float:
        return time.time()

    def since(self, t: float) -> float:
        return round(time.time() - t, 3)

    def window(
        self, expected_s: float | None, margin_s: float = 3.0, default_s: float = 30.0
    ) -> float:
        """How long to watch for a timer: expected + margin, never past max_observe_s."""
        want = default_s if expected_s is None else expected_s + margin_s
        return max(1.0, min(want, self.max_observe_s))

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.log(f"step: {name}")
        yield
