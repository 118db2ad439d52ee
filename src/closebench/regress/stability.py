"""`regress` says where repetitions of one cell group disagree beyond their intervals.

The criterion is the report's (closebench.report.stability, docs/repetitions.md): the 95 %
Wilson intervals of the repetitions' stack-fault rates do not all overlap. regress matches
cells one to one, so a repetition far from its siblings can make or hide a verdict on its
own; the comparison keeps its verdicts and names the group, on either side, in its notes and
on the stack-fault rows of its cells. Like pyperf's `check`, this warns and does not change
the exit code.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol

from closebench.regress.baseline import CellStats
from closebench.report.stability import Disagreement, Repetition, disagreement
from closebench.teardown.rates import Rate

MARKED_METRIC = "stack fault rate"  # the row whose figure the disagreement is about
ROW_NOTE = "repetitions disagree (see notes)"


class NotedRow(Protocol):
    """What this module reads and writes of compare.Row."""

    cell: str
    metric: str
    note: str


def group_disagreements(cells: Iterable[CellStats]) -> list[Disagreement]:
    """Every cell group (a cell without its repetition) whose repetitions disagree."""
    groups: dict[tuple[str, str, str, str | None], list[CellStats]] = defaultdict(list)
    for cell in cells:
        groups[cell.group].append(cell)
    found = []
    for (variant, profile, link, lwip), members in sorted(
        groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])
    ):
        reps = [
            Repetition(c.cell_id, c.repetition, Rate(c.stack_faults, c.connections))
            for c in members
        ]
        stack = f"{variant} (lwIP {lwip})" if lwip else variant
        hit = disagreement(stack, f"{profile} / {link}", reps)
        if hit:
            found.append(hit)
    return found


def unstable_repetitions(
    pairs: list[tuple[str, CellStats, CellStats]],
    base_cells: Iterable[CellStats],
    rows: Iterable[NotedRow],
    base_label: str,
    now_label: str,
) -> list[str]:
    """Notes naming each disagreeing group of either side; marks the stack-fault rows of
    the pairs that hold one of its cells."""
    sides = (
        (base_label, group_disagreements(base_cells)),
        (now_label, group_disagreements(now for _, _, now in pairs)),
    )
    notes, flagged = [], set()
    for side, found in sides:
        for d in found:
            notes.append(
                f"unstable in {side}: repetitions disagree beyond their 95% Wilson intervals "
                f"on the stack-fault rate: {d.text()}"
            )
            flagged |= set(d.cells)
    marked = {label for label, b, n in pairs if {b.cell_id, n.cell_id} & flagged}
    for row in rows:
        if row.cell in marked and row.metric == MARKED_METRIC:
            row.note = f"{row.note}; {ROW_NOTE}" if row.note else ROW_NOTE
    return notes
