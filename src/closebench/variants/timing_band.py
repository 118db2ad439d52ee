"""Where each `[timing]` figure comes from, and the interval it carries (issue 25).

    [timing.cpi]                 cycles per instruction of the chip: fast end, model, slow end
    fast = 1.5
    model = 1.5
    slow = 2.0
    source = "..."               the published measurement(s) and how they were used

    [timing.stack.accept]        one table per event (all five, or none), likewise
    us = [53, 53, 72]            [timing.app.<event>]: the low end, the model, the high end
    source = "measured: 2848 instructions on lx106 (closebench timing measure --variant V),
              CPI from ..."        (one line in the file)

The model (us[1]) must be the figure the event's [stack_us, app_us] pair carries. A source
reads "measured: N instructions on lx106 (command), CPI from <citation>" or
"ASSUMPTION: why". The ends give the device speeds "model-fast" (every half at its low end)
and "model-slow" (its high end); a half without a table keeps its model figure at both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from closebench.variants.schema import Table

HALVES = ("stack", "app")
MEASURED = "measured: "
ASSUMED = "ASSUMPTION: "


@dataclass(frozen=True)
class Figure:
    low: int
    model: int
    high: int
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"us": [self.low, self.model, self.high], "source": self.source}


@dataclass(frozen=True)
class Cpi:
    fast: float
    model: float
    slow: float
    source: str


def parse_cpi(table: Table) -> Cpi:
    table.check_keys(required=("fast", "model", "slow", "source"))
    values = []
    for key in ("fast", "model", "slow"):
        value = table.data[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 100:
            raise table.fail(key, f"must be a number in (0, 100), got {value!r}")
        values.append(float(value))
    if not values[0] <= values[1] <= values[2]:
        raise table.fail("model", f"must lie between fast and slow, got {values}")
    return Cpi(*values, source=table.text("source"))


def _figure(table: Table, model: int, max_us: int) -> Figure:
    table.check_keys(required=("us", "source"))
    us = table.get("us", list)
    ok = len(us) == 3 and all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= max_us for v in us
    )
    if not ok:
        raise table.fail("us", f"must be [low, model, high], integers in 0..{max_us}, got {us!r}")
    if not us[0] <= us[1] <= us[2]:
        raise table.fail("us", f"must be low <= model <= high, got {us}")
    if us[1] != model:
        raise table.fail("us", f"model {us[1]} differs from the event's pair ({model})")
    source = table.text("source")
    if not source.startswith((MEASURED, ASSUMED)):
        raise table.fail("source", f'must start with "{MEASURED}" or "{ASSUMED}"')
    if source.startswith(MEASURED) and not (
        "instructions on lx106" in source and "CPI from" in source
    ):
        raise table.fail(
            "source", 'a measured figure names "N instructions on lx106 (command), CPI from ..."'
        )
    return Figure(us[0], us[1], us[2], source)


def parse_half(
    table: Table, half: str, costs: dict[str, tuple[int, int]], max_us: int
) -> dict[str, Figure]:
    """[timing.<half>]: a Figure per event (every event, or the table is absent)."""
    if half not in table.data:
        return {}
    sub = table.sub(half)
    sub.check_keys(required=tuple(costs))
    index = HALVES.index(half)
    return {ev: _figure(sub.sub(ev), costs[ev][index], max_us) for ev in costs}


def costs_at(
    costs: dict[str, tuple[int, int]], figures: dict[str, dict[str, Figure]], end: str
) -> dict[str, tuple[int, int]]:
    """The [stack, app] pairs at one end of the interval ("low" or "high")."""
    out = {}
    for ev, (stack, app) in costs.items():
        pair = [stack, app]
        for i, half in enumerate(HALVES):
            fig = figures.get(half, {}).get(ev)
            if fig is not None:
                pair[i] = fig.low if end == "low" else fig.high
        out[ev] = (pair[0], pair[1])
    return out
