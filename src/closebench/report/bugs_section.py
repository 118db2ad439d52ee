"""The report's "Known close bugs" section: drawn only when the run folder has a bugs.json
(`closebench bugs --out RUN_DIR`), folded: the bug x stack table, then the fix pairs."""

from __future__ import annotations

import json

import pandas as pd

from closebench.report import display as show
from closebench.report.data import RunData
from closebench.report.sections import guarded

CLASSES = {"present": "bad", "absent": "good"}


def cell_text(cell: dict) -> str:
    if cell["status"] in ("present", "absent"):
        return f"{cell['status']} ({cell['measured']})"
    return cell["status"]


def stack_frame(data: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bug x stack table and its cell classes ('bad' present, 'good' absent)."""
    stacks = list(data["stacks"])
    rows, classes = [], []
    for bug in data["bugs"]:
        cells = [data["table"][s][bug["id"]] for s in stacks]
        rows.append([bug["id"], *(cell_text(c) for c in cells)])
        classes.append(["", *(CLASSES.get(c["status"], "") for c in cells)])
    columns = ["bug", *stacks]
    return pd.DataFrame(rows, columns=columns), pd.DataFrame(classes, columns=columns)


def _side(side: dict) -> str:
    return f"{side['stack']}: {side['status']} ({side['measured']})"


def pair_frame(data: dict) -> pd.DataFrame:
    rows = [
        {
            "bug": p["bug"],
            "variant": p["variant"],
            "before": _side(p["before"]),
            "fix": _side(p["after"]),
            "result": p["result"],
        }
        for p in data.get("pairs") or []
    ]
    return pd.DataFrame(rows)


def _body(data: dict) -> None:
    frame, classes = stack_frame(data)
    show.table(frame, "PRESENT: the probe measured the buggy signature; absent: the fixed one.",
               classes=classes)  # fmt: skip
    reasons = [
        f"{bug} @ {stack}: {cell['status']}: {cell['detail']}"
        for stack, cells in data["table"].items()
        for bug, cell in cells.items()
        if cell["status"] not in ("present", "absent")
    ]
    show.bullets(reasons, empty="Every cell was measured.")
    show.table(pair_frame(data), "The commit just before each fix against the fix commit.",
               empty="No fix pairs in this run (closebench bugs --pairs).")  # fmt: skip
    show.bullets([f"{b}: {why}" for b, why in (data.get("no_pair") or {}).items()])


@guarded
def render(run: RunData) -> None:
    path = run.run_dir / "bugs.json"
    if not path.is_file():
        return
    data = json.loads(path.read_text())
    show.display(show.HTML("<h2>Known close bugs (benchmarks/bugs/)</h2>"))
    with show.folded(f"{len(data['bugs'])} catalogued bugs x {len(data['stacks'])} stacks"):
        _body(data)
