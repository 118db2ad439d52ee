"""Repetitions of one condition that disagree beyond their intervals (pyperf's `check`, for
fault rates).

Pooling repetitions (stats.fault_table) gives one rate and one interval per stack and
condition; the interval assumes every repetition drew from the same rate. When they did not
(a link seed that hit a different moment, a host too loaded to keep the device's pace), the
pooled interval is too narrow and the reader must be told which cells differ.

Definition (docs/repetitions.md): the repetitions of one condition DISAGREE when the 95 %
Wilson intervals of their fault rates do not all overlap, i.e. when the highest lower bound
is above the lowest upper bound (touching intervals overlap). For intervals on a line, "some
two do not overlap" and "highest lower bound > lowest upper bound" are the same statement.
Cells without connections take no part; one usable repetition cannot disagree.

Non-overlap of two 95 % intervals is a stricter test than a 5 % two-sample test (two equal
intervals separate only beyond about 2.8 standard errors of the difference), so a flag is
rarely noise; docs/repetitions.md gives the measured false-flag rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from closebench.teardown.rates import Rate


@dataclass(frozen=True)
class Repetition:
    """One repetition's fault count: the cell it comes from, k faults of n connections."""

    cell: str
    repetition: int
    rate: Rate

    @property
    def low(self) -> float:
        return self.rate.ci[0]

    @property
    def high(self) -> float:
        return self.rate.ci[1]

    def text(self) -> str:
        lo, hi = self.rate.ci
        return f"{self.cell} {self.rate.k}/{self.rate.n} = {self.rate.p:.1%} [{lo:.1%}–{hi:.1%}]"


@dataclass(frozen=True)
class Disagreement:
    """One condition whose repetitions disagree: `above`'s interval lies wholly above
    `below`'s; `repetitions` are all of them, in repetition order."""

    stack: str
    condition: str
    repetitions: tuple[Repetition, ...]
    above: Repetition
    below: Repetition

    @property
    def cells(self) -> list[str]:
        return [r.cell for r in self.repetitions]

    def text(self) -> str:
        others = [r for r in self.repetitions if r not in (self.above, self.below)]
        rest = "; ".join(r.text() for r in others)
        return (
            f"{self.stack}, {self.condition}: {self.above.text()} lies wholly above "
            f"{self.below.text()}"
            + (f" (other repetition{'s' if len(others) > 1 else ''}: {rest})" if others else "")
        )


def disagreement(
    stack: str, condition: str, repetitions: Iterable[Repetition]
) -> Disagreement | None:
    """The repetitions' Disagreement, or None when their intervals all overlap."""
    reps = tuple(sorted((r for r in repetitions if r.rate.n), key=lambda r: r.repetition))
    if len(reps) < 2:
        return None
    above = max(reps, key=lambda r: r.low)
    below = min(reps, key=lambda r: r.high)
    if above.low <= below.high:
        return None
    return Disagreement(stack, condition, reps, above, below)


def disagreements(cells: pd.DataFrame) -> list[Disagreement]:
    """Every stack x condition of a cell_counts table (stats.py) whose repetitions disagree."""
    out = []
    ran = cells[cells["ok"] & (cells["connections"] > 0)] if not cells.empty else cells
    for (stack, condition), part in ran.groupby(["stack", "condition"], sort=False):
        found = disagreement(str(stack), str(condition), _repetitions(part))
        if found:
            out.append(found)
    return out


def _repetitions(part: pd.DataFrame) -> Sequence[Repetition]:
    return [
        Repetition(str(cell), int(rep), Rate(int(k), int(n)))
        for cell, rep, k, n in part[["cell_id", "repetition", "faulty", "connections"]].itertuples(
            index=False
        )
    ]


def repetition_table(found: Iterable[Disagreement]) -> pd.DataFrame:
    """One row per repetition of each disagreeing condition, for the report."""
    return pd.DataFrame(
        [
            {
                "stack": d.stack,
                "profile / link": d.condition,
                "cell": r.cell,
                "faults / connections": f"{r.rate.k}/{r.rate.n}",
                "rate [95% CI]": f"{r.rate.p:.1%} [{r.low:.1%}–{r.high:.1%}]",
                "": "highest lower bound"
                if r is d.above
                else "lowest upper bound"
                if r is d.below
                else "",
            }
            for d in found
            for r in d.repetitions
        ]
    )
