"""The report's "Known close bugs" section, folded: the bug x stack table and the fix pairs
from the run folder's bugs.json (`closebench bugs --out RUN_DIR`); without one, the entries
the run's own verify probes can judge, and for releases (`compare --releases`) each
catalogued bug a release brings back against the release before it."""

from __future__ import annotations

import json

import pandas as pd

from closebench.bugs import from_run
from closebench.bugs.judge import Verdict
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


def _release_date(run: RunData, stack: str) -> str | None:
    release = run.variant_info(stack).get("release")
    return str(release["date"]) if isinstance(release, dict) and release.get("date") else None


def release_lines(run: RunData, found: dict[str, dict[str, Verdict]]) -> list[str]:
    """Per firmware line, in release date order: bugs a release brings back."""
    dated = sorted((d, s) for s in found if (d := _release_date(run, s)))
    lines, last = [], {}
    for _, stack in dated:
        line = stack.split("~", 1)[0]
        if line in last:
            prev = last[line]
            lines += [
                f"{stack} (after {prev}): {b}"
                for b in from_run.brought_back(found[prev], found[stack])
            ]
        last[line] = stack
    return lines


def _from_probes(run: RunData) -> None:
    found = from_run.verdicts(run.run_dir)
    if not any(found.values()):
        return
    stacks = list(found)
    ids = sorted({b for cells in found.values() for b in cells})
    data = {
        "stacks": stacks,
        "bugs": [{"id": b} for b in ids],
        "table": {
            s: {
                b: (found[s][b].to_json() if b in found[s] else {"status": "not measured"})
                for b in ids
            }
            for s in stacks
        },
    }
    show.display(show.HTML("<h2>Known close bugs (from this run's verify probes)</h2>"))
    with show.folded(
        f"{len(ids)} catalogued bugs the verify probes can judge x {len(stacks)} stacks"
    ):
        frame, classes = stack_frame(data)
        show.table(frame, "Judged on the verify probes; `closebench bugs` runs every entry.",
                   classes=classes)  # fmt: skip
        show.bullets(release_lines(run, found), empty="No release brings a catalogued bug back.")


@guarded
def render(run: RunData) -> None:
    path = run.run_dir / "bugs.json"
    if not path.is_file():
        _from_probes(run)
        return
    data = json.loads(path.read_text())
    show.display(show.HTML("<h2>Known close bugs (benchmarks/bugs/)</h2>"))
    with show.folded(f"{len(data['bugs'])} catalogued bugs x {len(data['stacks'])} stacks"):
        _body(data)
