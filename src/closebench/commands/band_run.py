"""The timing band of `run` / `compare` (issue 25): the same cells again at the chip model's
interval ends, after the model's run, on the same seeds.

`compare` measures it by default, `compare --quick` and `run` only with --timing-band;
--no-timing-band skips it. The band's runs are written inside the model's run directory
(RUN/timing-band/<stamp>-model-slow, ...), so results/ holds one run per command and
`regress` / `baseline save` never meet a band run as a run of its own. The model run's
manifest records the band's state ("running", "complete", "interrupted", or why it was not
run), so a Ctrl-C during the band leaves the model's results whole and says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from closebench.pipeline import band, runner
from closebench.schema import write_json
from closebench.variants.timing import HOST_LABEL

BAND_FOLDER = "timing-band"  # inside the model's run directory


def wants_band(args: argparse.Namespace) -> bool:
    """--timing-band / --no-timing-band as given, else: the full compare measures it."""
    if args.timing_band is not None:
        return bool(args.timing_band)
    return args.kind == "compare" and not args.quick


def mark(run_dir: Path, state: str, **extra: Any) -> None:
    """Record the band's state in the model run's manifest (atomically rewritten)."""
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["timing_band"] = {"state": state, **extra}
    write_json(path, manifest)


def _ends_that_differ(matrix: runner.Matrix, point: str) -> list[Any]:
    """The variants whose chip model differs at this interval end, set to run there."""
    return [
        v.with_device_speed(point)
        for v in matrix.variants
        if v.timing and v.timing.at_speed(point).device_spec() != v.timing.device_spec()
    ]


def estimate(matrix: runner.Matrix, jobs: int) -> str:
    """What the band adds to the run, for the line printed before it starts."""
    why = not_modelled(matrix)
    if why:
        return f"timing band: not measured ({why})"
    cells, wall = 0, 0.0
    for point in ("model-fast", "model-slow"):
        moved = _ends_that_differ(matrix, point)
        if moved:
            end = dataclasses.replace(matrix, variants=moved)
            cells += len(end.cells())
            wall += runner.wall_estimate_s(end, jobs)
    return (
        f"then the timing band: {cells} cells again at the interval's ends, about "
        f"{wall / 60:.1f} min more (--no-timing-band skips it)"
    )


def not_modelled(matrix: runner.Matrix) -> str | None:
    """Why the band cannot be measured around this run, or None."""
    speeds = {v.device_speed for v in matrix.variants if v.kind == "lwip"}
    if not speeds:
        return "no lwIP variant in the run (the Linux control has no chip model)"
    if speeds != {"model"}:
        shown = ", ".join(HOST_LABEL if s == "host" else s for s in sorted(speeds))
        return f"the run is at {shown}, not the chip model; the band is the model's interval"
    return None


def run_band(
    args: argparse.Namespace,
    matrix: runner.Matrix,
    run_dir: Path,
    jobs: int,
    progress: Progress,
    console: Console,
) -> None:
    """Measure the band's ends, write RUN/timing-band.json and print what moves.

    Ctrl-C: the end being measured keeps its own honest manifest (interrupted), the model's
    manifest says the band was interrupted, and the interrupt goes on up."""
    why = not_modelled(matrix)
    if why:
        console.print(f"timing band: not measured: {why}")
        mark(run_dir, "not measured", reason=why)
        return
    runs = {"model": run_dir}
    ends: dict[str, str] = {}
    mark(run_dir, "running", runs=ends)
    try:
        for point in ("model-fast", "model-slow"):
            moved = _ends_that_differ(matrix, point)
            if not moved:
                console.print(f"timing band: {point} is the model for every variant; not run again")
                ends[point] = "model"
                continue
            console.print(f"timing band: {len(moved)} variant(s) again at {point}, same seeds")
            runs[point] = runner.run_matrix(
                dataclasses.replace(matrix, variants=moved),
                kind=point,
                jobs=jobs,
                results=run_dir / BAND_FOLDER,
                progress=progress,
                log=console.print,
                verify=False,  # the model's run verified them
                force=True,
            )
            ends[point] = runs[point].relative_to(run_dir).as_posix()
            mark(run_dir, "running", runs=ends)
    except KeyboardInterrupt:
        mark(run_dir, "interrupted", runs=ends)
        console.print(
            f"timing band interrupted; the model's run is complete in {run_dir} "
            f"(`closebench report {run_dir}` renders it without the band)"
        )
        raise
    doc = band.compare_band(runs, run_dir)
    mark(run_dir, "complete", runs=ends, file=band.BAND_FILE)
    for line in band.band_lines(doc):
        console.print(line)
