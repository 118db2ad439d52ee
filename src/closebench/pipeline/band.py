"""The timing band of a run (issue 25): the same cells at the ends of the chip model's interval.

`run --timing-band` / `compare --timing-band` measure the matrix again with every modelled
figure at its slow end (`--device-speed model-slow`) and, where it differs from the model, its
fast end, on the same cells and so the same seeds (CellPlan.seed). Each cell's verdicts are then
read at every point: the close kind most connections end with, the faulty rate with its 95 %
interval, and the duels. A verdict that differs inside the band is timing-sensitive and is
printed with its value at each point.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from closebench.schema import write_json

POINTS = ("model-fast", "model", "model-slow")
BAND_FILE = "timing-band.json"


def cell_verdicts(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Cell id -> its verdicts, for the cells that completed."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    out: dict[str, dict[str, Any]] = {}
    for cell in manifest["cells"]:
        path = run_dir / cell["id"] / "metrics.json"
        if cell["status"] != "ok" or not path.is_file():
            continue
        analysis = json.loads(path.read_text()).get("analysis", {})
        kinds = analysis.get("close_kind") or {}
        top = max(kinds.items(), key=lambda kv: kv[1].get("count", 0))[0] if kinds else None
        faulty = analysis.get("faulty") or {}
        out[cell["id"]] = {
            "top_close_kind": top,
            "faulty_rate": faulty.get("rate"),
            "faulty_ci": [faulty.get("ci_low"), faulty.get("ci_high")],
            "duels": analysis.get("duels", 0),
        }
    return out


def _apart(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two faulty rates whose 95 % intervals do not overlap."""
    (lo_a, hi_a), (lo_b, hi_b) = a["faulty_ci"], b["faulty_ci"]
    if None in (lo_a, hi_a, lo_b, hi_b):
        return False
    return hi_a < lo_b or hi_b < lo_a


def sensitive(points: dict[str, dict[str, Any]]) -> list[str]:
    """The verdicts of one cell that move inside the band, each with its value per point."""
    found = []
    kinds = {p: v["top_close_kind"] for p, v in points.items()}
    if len(set(kinds.values())) > 1:
        found.append("top close kind: " + ", ".join(f"{p} {k}" for p, k in kinds.items()))
    values = list(points.values())
    if any(_apart(a, b) for i, a in enumerate(values) for b in values[i + 1 :]):
        found.append(
            "faulty: "
            + ", ".join(f"{p} {100 * (v['faulty_rate'] or 0):.1f} %" for p, v in points.items())
        )
    duels = {p: v["duels"] for p, v in points.items()}
    if len({d > 0 for d in duels.values()}) > 1:
        found.append("duels: " + ", ".join(f"{p} {d}" for p, d in duels.items()))
    return found


def compare_band(run_dirs: dict[str, Path], out_dir: Path) -> dict[str, Any]:
    """Read every point's run, write timing-band.json into OUT_DIR, return it."""
    verdicts = {point: cell_verdicts(path) for point, path in run_dirs.items()}
    model = verdicts["model"]
    for point in POINTS:  # a variant not run again at an end has the model's figures there
        verdicts[point] = {**model, **verdicts.get(point, {})}
    cells: dict[str, Any] = {}
    for cell_id in sorted(model):
        points = {p: verdicts[p][cell_id] for p in POINTS if p in verdicts}
        cells[cell_id] = {"points": points, "timing_sensitive": sensitive(points)}
    doc = {
        # each point's run directory, relative to the model's (RUN/timing-band/...); a point
        # missing here was not run again because the chip runs there exactly as at the model
        "runs": {point: _relative(path, out_dir) for point, path in run_dirs.items()},
        "cells": cells,
        "timing_sensitive": sorted(c for c, v in cells.items() if v["timing_sensitive"]),
    }
    write_json(out_dir / BAND_FILE, doc, indent=2)
    return doc


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix() or "."
    except ValueError:  # a run elsewhere (as the tests make them): by its own name
        return path.name


def band_lines(doc: dict[str, Any]) -> list[str]:
    """The band for the console: every cell, timing-sensitive ones with their values."""
    runs = {p: "this run" if r == "." else r for p, r in doc["runs"].items()}
    runs.update({p: "= model" for p in POINTS if p not in runs})  # not run again
    lines = [f"timing band ({', '.join(f'{p}: {r}' for p, r in runs.items())}):"]
    for cell_id, cell in doc["cells"].items():
        moves = cell["timing_sensitive"]
        if not moves:
            lines.append(f"  {cell_id}: the same at every point of the band")
            continue
        lines.append(f"  {cell_id}: TIMING-SENSITIVE")
        lines += [f"    {m}" for m in moves]
    return lines
