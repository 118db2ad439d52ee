"""The chip's speed: a variant's device timing model (`[timing]` in variant.toml).

An ESP8266 is one 80 MHz core; its firmware answers in milliseconds, and a second request
waits for the first. The device program (`cbdev --cpu`, firmware_variants/device/README.md)
applies the model on one emulated core: per event, the microseconds of stack work (lwIP and
the SDK) and of app work (the firmware's API and the user's script), queued as on the chip.

Events, as the device program counts them from the frames the core handles:
  accept   an inbound SYN (the stack's listen input); the app's part (its accept/connection
           callback) comes with the SYN-ACK, so a SYN the stack drops costs the app nothing
  receive  any other inbound frame (app work only when it carries data)
  send     an outbound frame (app work only when it carries data: building the response)
  close    an outbound FIN or RST (added to that frame's send)
  timer    one tick every `tick_ms` (lwIP's TCP timer and the app's periodic work)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from closebench.variants.schema import Table
from closebench.variants.timing_band import HALVES, Cpi, Figure, costs_at, parse_cpi, parse_half

EVENTS = ("accept", "receive", "send", "close", "timer")
# "model": the [timing] figures; "model-slow" / "model-fast": the ends of their interval (the
# slow end: every figure at its high end; timing_band.py); "host": answer at host speed.
DEVICE_SPEEDS = ("model", "model-slow", "model-fast", "host")
MODEL_SPEEDS = ("model", "model-slow", "model-fast")
DEFAULT_SPEED = "model"
HOST_LABEL = "host speed (faster than any chip)"
MAX_US = 10_000_000

# One short connection (HEAD, `Connection: close`, ideal link) as the device's core sees it:
# in: SYN, the handshake's ACK, the request, the ACK of the response, the client's FIN;
# out: SYN-ACK, the response, the device's FIN, the ACK of the client's FIN. Used only for the
# modelled ceiling; the device program charges the frames that really pass.
NOMINAL_CONNECTION = {
    "accept": (1, 1),  # (frames, of which carry data / take the app's part)
    "receive": (4, 1),
    "send": (4, 1),
    "close": (1, 1),
}


def speed_label(device_speed: str | None, timing: dict[str, Any] | None) -> str:
    """How a result names the speed it ran at (manifest `variants.<name>`), in one phrase."""
    if device_speed not in MODEL_SPEEDS or not isinstance(timing, dict):
        return HOST_LABEL
    where = "the chip model" if device_speed == "model" else f"{device_speed} (interval end)"
    return f"{where}: {timing.get('connection_us', 0) / 1000:.1f} ms per short connection"


@dataclass(frozen=True)
class TimingSource:
    """A published measurement a figure of the model rests on."""

    where: str  # URL, or owner/repo@ref:path
    measured: str  # what was measured, and the figure
    on: str  # on what hardware / firmware
    used_for: str  # which events' values it anchors, and how

    def __str__(self) -> str:
        return f"{self.where}: {self.measured} (on {self.on}) -> {self.used_for}"


@dataclass(frozen=True)
class DeviceTiming:
    cpu: str
    costs: dict[str, tuple[int, int]]  # event -> (stack_us, app_us)
    tick_ms: int
    queue: int
    sources: tuple[TimingSource, ...]
    assumptions: tuple[str, ...]
    note: str = ""
    # where each half's figure per event comes from, with its interval (timing_band.py)
    figures: dict[str, dict[str, Figure]] = field(default_factory=dict)
    cpi: Cpi | None = None
    speed: str = "model"  # which point of the interval `costs` are

    def at_speed(self, speed: str) -> DeviceTiming:
        """The model at one end of its interval ("model-slow", "model-fast") or itself."""
        if speed not in ("model-slow", "model-fast"):
            return self
        end = "high" if speed == "model-slow" else "low"
        return dataclasses.replace(self, costs=costs_at(self.costs, self.figures, end), speed=speed)

    def device_spec(self) -> str:
        """The value of cbdev's --cpu flag."""
        items = [f"{ev}={s}:{a}" for ev, (s, a) in self.costs.items()]
        return ",".join([*items, f"tick_ms={self.tick_ms}", f"queue={self.queue}"])

    def connection_us(self) -> float:
        """Core time of one nominal short connection (NOMINAL_CONNECTION)."""
        total = 0.0
        for ev, (frames, with_app) in NOMINAL_CONNECTION.items():
            stack, app = self.costs[ev]
            total += frames * stack + with_app * app
        return total

    def timer_share(self) -> float:
        """Fraction of the core the timer ticks take."""
        if not self.tick_ms:
            return 0.0
        return min(1.0, sum(self.costs["timer"]) / (self.tick_ms * 1000.0))

    def ceiling_per_s(self) -> float:
        """Short connections per second the modelled core can serve at most."""
        per = self.connection_us()
        return (1.0 - self.timer_share()) * 1e6 / per if per > 0 else float("inf")

    def summary(self) -> str:
        """One line for reports: the costs, and the ceiling they imply."""
        costs = " ".join(f"{ev} {s}+{a}" for ev, (s, a) in self.costs.items())
        return (
            f"{self.cpu}; us stack+app per event: {costs}; tick {self.tick_ms} ms; "
            f"queue {self.queue} frames; {self.connection_us() / 1000:.1f} ms per short "
            f"connection, ceiling ~{self.ceiling_per_s():.0f} conn/s"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "cpu": self.cpu,
            "costs_us": {ev: {"stack": s, "app": a} for ev, (s, a) in self.costs.items()},
            "tick_ms": self.tick_ms,
            "queue": self.queue,
            "connection_us": round(self.connection_us(), 1),
            "ceiling_conn_per_s": round(self.ceiling_per_s(), 1),
            "device_args": ["--cpu", self.device_spec()],
            "sources": [str(s) for s in self.sources],
            "assumptions": list(self.assumptions),
            "note": self.note,
            "speed": self.speed,
            "band": self.band_dict(),
            "cpi": dataclasses.asdict(self.cpi) if self.cpi else None,
        }

    def band_dict(self) -> dict[str, dict[str, Any]]:
        """Per half and event: [low, model, high] microseconds and the figure's source."""
        return {
            half: {ev: fig.as_dict() for ev, fig in self.figures.get(half, {}).items()}
            for half in HALVES
            if self.figures.get(half)
        }


def parse_timing(table: Table, kind: str) -> DeviceTiming:
    """`[timing]` of a variant.toml; errors name the file and the field."""
    if kind != "lwip":
        raise table.fail("cpu", "only lwip-kind variants run on a modelled core")
    table.check_keys(
        required=("cpu", *EVENTS, "tick_ms", "queue", "assumptions"),
        optional=("sources", "note", "cpi", *HALVES),
    )
    costs = {ev: _cost(table, ev) for ev in EVENTS}
    figures = {half: parse_half(table, half, costs, MAX_US) for half in HALVES}
    cpi = parse_cpi(table.sub("cpi")) if "cpi" in table.data else None
    if figures["stack"] and cpi is None:
        raise table.fail("cpi", "missing: [timing.stack] figures need the CPI they rest on")
    tick_ms = table.count("tick_ms")
    if tick_ms > 3_600_000:
        raise table.fail("tick_ms", f"must be at most 3600000, got {tick_ms}")
    queue = table.count("queue")
    if not 1 <= queue <= 100_000:
        raise table.fail("queue", f"must be in 1..100000, got {queue}")
    listed = table.subtables("sources") if "sources" in table.data else []
    sources = tuple(_source(t) for t in listed)
    assumptions = table.strings("assumptions")
    if not sources and not assumptions:
        raise table.fail("assumptions", "a model needs cited sources or stated assumptions")
    timing = DeviceTiming(
        cpu=table.text("cpu"),
        costs=costs,
        tick_ms=tick_ms,
        queue=queue,
        sources=sources,
        assumptions=assumptions,
        note=table.get("note", str, ""),
        figures={half: f for half, f in figures.items() if f},
        cpi=cpi,
    )
    if timing.connection_us() <= 0:
        raise table.fail("accept", "a model whose connections cost nothing is host speed")
    return timing


def _cost(table: Table, ev: str) -> tuple[int, int]:
    value = table.get(ev, list)
    ok = len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_US for v in value
    )
    if not ok:
        raise table.fail(ev, f"must be [stack_us, app_us], integers in 0..{MAX_US}, got {value!r}")
    return int(value[0]), int(value[1])


def _source(item: Table) -> TimingSource:
    item.check_keys(required=("where", "measured", "on", "used_for"))
    return TimingSource(
        where=item.text("where"),
        measured=item.text("measured"),
        on=item.text("on"),
        used_for=item.text("used_for"),
    )
