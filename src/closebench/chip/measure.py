"""`closebench timing measure`: a variant's stack on lx106, counted per event, in microseconds.

The workload is a recorded bench cell (the device-side capture): the harness replays the
frames toward the device at their recorded times on the variant's own stack built for the
lx106 core, and cbcount.so counts the instructions of each piece of work (chip/events.py).
Microseconds = instructions x cycles per instruction / 80 MHz, the CPI from CoreMark
(chip/coremark.py) as an interval: the fast end, the model, the slow end.
"""

from __future__ import annotations

import shlex
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from closebench.bench import netsetup
from closebench.chip.build import build_program
from closebench.chip.coremark import CLOCK_HZ, PUBLISHED, CpiPoint, measure_cpi
from closebench.chip.events import BOUNDARY_FUNCTIONS, Distribution, event_counts
from closebench.chip.run import run_program
from closebench.chip.stack_build import firmware_flags, stack_spec
from closebench.chip.toolchain import find_toolchain
from closebench.chip.workload import device_config, read_frames, render, segment_kind
from closebench.errors import UserError
from closebench.paths import cache_dir, variants_dir
from closebench.variants.manifest import Variant

MODEL_EVENTS = ("accept", "receive", "send", "close", "timer")
MAX_FRAMES = 2000
TAIL_US = 5_000_000  # the timers keep running this long after the last frame


def workload_capture(variant: Variant) -> Path:
    """The recorded cell shipped for VARIANT (firmware_variants/chip/workloads/)."""
    return variants_dir() / "chip" / "workloads" / f"{variant.name}.pcap"


@dataclass(frozen=True)
class CpiBand:
    fast: float
    model: float
    slow: float
    points: tuple[CpiPoint, ...]

    def citation(self) -> str:
        parts = [f"{p.cpi:.3f} from {p.published.where}" for p in self.points]
        return "; ".join(parts)


def measure_cpi_band(log: Callable[[str], None]) -> CpiBand:
    """CoreMark under QEMU against each published score; the model is the first (the one
    whose frequency, flags, compiler and iterations are all published), the ends the range."""
    tools = find_toolchain()
    points = []
    for published in PUBLISHED:
        log(
            f"CoreMark on lx106 with {' '.join(published.flags)}, {published.iterations} iterations"
        )
        points.append(measure_cpi(tools, published))
    cpis = [p.cpi for p in points]
    return CpiBand(min(cpis), points[0].cpi, max(cpis), tuple(points))


@dataclass(frozen=True)
class StackMeasurement:
    variant: str
    capture: Path
    frames: int
    counts: dict[str, Distribution]
    model_instructions: dict[str, float]  # MODEL_EVENTS -> mean instructions per event
    flags_cite: str
    command: str
    # the device's TCP segments by kind: (in the recording, in the replay on lx106)
    replay: dict[str, tuple[int, int]]

    def microseconds(self, cpi: float) -> dict[str, float]:
        return {ev: n * cpi / CLOCK_HZ * 1e6 for ev, n in self.model_instructions.items()}


def _mean(values: list[int]) -> float:
    return statistics.fmean(values) if values else 0.0


def model_instructions(found: dict[str, list[int]]) -> dict[str, float]:
    """The device program's events from the measured ones (firmware_variants/device/README.md):
    accept = an inbound SYN's own work; receive = any other inbound TCP frame's own work, plus
    the stack work an app does from its main loop (loop passes) spread over those frames;
    send = each segment sent; close = what a FIN or RST costs beyond a plain send; timer =
    a pass that runs the TCP timer. Means: the device program charges a fixed cost per event,
    so the mean keeps the total core time."""
    received = found["request"] + found["ack"] + found["fin"] + found["rst"]
    send = _mean(found["send"])
    receive = (sum(received) + sum(found["loop"])) / len(received) if received else 0.0
    return {
        "accept": _mean(found["syn"]),
        "receive": receive,
        "send": send,
        "close": max(0.0, _mean(found["close"]) - send),
        "timer": _mean(found["timer"]),
    }


def _live_segments(stream: tuple[tuple[str, int], ...]) -> dict[str, int]:
    """The stack's TCP segments by kind, up to its answer to the last frame replayed (the
    recording is counted that far: workload.read_frames)."""
    names = [name for name, _ in stream]
    last_in = max((i for i, n in enumerate(names) if n.startswith("in ")), default=-1)
    stop = next((i for i in range(last_in, len(names)) if names[i] == "pend"), len(names) - 1)
    live: dict[str, int] = {}
    for name in names[: stop + 1]:
        if name.startswith("tx "):
            length, flags, to_port = (int(v, 16) for v in name.split()[1:])
            if to_port:
                kind = segment_kind(flags, length > 54)
                live[kind] = live.get(kind, 0) + 1
    return live


def measure_stack(
    variant: Variant, capture: Path | None, log: Callable[[str], None], limit: int = MAX_FRAMES
) -> StackMeasurement:
    exact = variant.as_exact()
    capture = capture or workload_capture(variant)
    if not capture.is_file():
        raise UserError(f"{capture}: no recorded cell for {variant.name} (--capture PATH)")
    port = 80
    recorded: dict[str, int] = {}
    frames = read_frames(capture, netsetup.DEVICE_MAC, port, limit, recorded)
    cfg = device_config(
        exact.device_args(), netsetup.DEVICE_IP, netsetup.CLIENT_IP, netsetup.DEVICE_MAC, port
    )
    folder = cache_dir() / "chip" / "workloads" / variant.name
    folder.mkdir(parents=True, exist_ok=True)
    workload_c = folder / "workload.c"
    workload_c.write_text(render(frames, cfg, TAIL_US))
    tools = find_toolchain()
    log(f"{variant.name}: building its stack for lx106 ({len(frames)} recorded frames)")
    elf = build_program(tools, stack_spec(exact, workload_c, log))
    log(f"{variant.name}: running under qemu-system-xtensa -cpu lx106")
    run = run_program(tools, elf, timeout_s=900, functions=BOUNDARY_FUNCTIONS)
    if run.returncode != 0 or "harness: done" not in run.stdout:
        raise UserError(f"{variant.name}: the harness did not finish: {run.stdout[-300:]}")
    found = event_counts(run.stream)
    live = _live_segments(run.stream)
    kinds = sorted(set(recorded) | set(live))
    replay = {k: (recorded.get(k, 0), live.get(k, 0)) for k in kinds}
    counts = {ev: Distribution.of(v) for ev, v in found.items() if v}
    return StackMeasurement(
        variant=variant.name,
        capture=capture,
        frames=len(frames),
        counts=counts,
        model_instructions=model_instructions(found),
        flags_cite=firmware_flags(exact).cite,
        command=f"closebench timing measure --variant {shlex.quote(variant.name)}",
        replay=replay,
    )
