"""Hand-made RunData: per stack, condition and repetition, k stack faults of n connections.

The report's sentences and its repetition check are decided by counts alone, so these runs
state the counts directly (no captures): each case of the answer is one small literal.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from closebench.report.data import Cell, RunData

CONTROL = "linux-ref"
# stack -> condition -> one (faults, connections) per repetition
Spec = dict[str, dict[str, list[tuple[int, int]]]]


def hand_run(spec: Spec, *, kind: str = "rst_after_fin", old_schema: bool = False) -> RunData:
    """A run of the given counts; CONTROL is the Linux control. Faulty connections close as
    `kind`; `old_schema` writes only `faulty` (a run of schema 1, before stack_fault)."""
    cells, frames = [], []
    for stack, conditions in spec.items():
        for condition, reps in conditions.items():
            profile, link = condition.split(" / ")
            for rep, (k, n) in enumerate(reps, start=1):
                cid = f"{stack}__{profile}__{link}__r{rep}"
                cell = Cell(cid, stack, profile, link, rep, "2.1.3", "ok", Path(cid), stack=stack)
                cells.append(cell)
                frames.append(_connections(cell, k, n, kind, old_schema))
    variants = {s: {"name": s, "kind": "linux" if s == CONTROL else "lwip"} for s in spec}
    return RunData(
        run_dir=Path("hand"),
        manifest={"variants": variants},
        cells=sorted(cells, key=lambda c: c.id),
        connections=pd.concat(frames, ignore_index=True),
        device=pd.DataFrame(),
        requests=pd.DataFrame(),
        probes={},
        problems=[],
    )


def _connections(cell: Cell, k: int, n: int, kind: str, old_schema: bool) -> pd.DataFrame:
    fault = [True] * k + [False] * (n - k)
    frame = pd.DataFrame(
        {
            "conn_id": range(n),
            "close_kind": [kind if f else "graceful" for f in fault],
            "faulty": fault,
            "duel": False,
            "cell_id": cell.id,
            "stack": cell.stack,
            "variant": cell.variant,
            "condition": cell.condition,
            "repetition": cell.repetition,
        }
    )
    if not old_schema:
        frame["stack_fault"] = fault
        frame["loss_recovery"] = False
    return frame
