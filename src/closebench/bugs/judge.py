"""A catalogue entry against one stack's probe result: present, absent, or why neither."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from closebench.bugs.catalogue import Bug

PRESENT, ABSENT = "present", "absent"
NOT_APPLICABLE, INCONCLUSIVE, NOT_MEASURED = "not applicable", "inconclusive", "not measured"
SHORT = {
    PRESENT: "PRESENT",
    ABSENT: "absent",
    NOT_APPLICABLE: "n/a",
    INCONCLUSIVE: "?",
    NOT_MEASURED: "-",
}


@dataclass
class Verdict:
    status: str
    measured: Any = None
    detail: str = ""
    bound: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def observation_for(bug: Bug, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The probe result row of the bug's behaviour (rows as run_probes writes them)."""
    for row in rows:
        if row.get("behaviour") == bug.behaviour and row.get("probe") == bug.probe:
            return row
    return None


def judge(bug: Bug, stack: str, row: dict[str, Any] | None) -> Verdict:
    """present when the measured value meets the buggy signature, absent when it meets the
    fixed one; anything else is inconclusive and shown with the value."""
    na = bug.status_for(stack)
    if na is not None:
        return Verdict(na[0], detail=na[1])
    if row is None:
        return Verdict(NOT_MEASURED, detail=f"probe {bug.probe} has no {bug.behaviour} result")
    measured, bound = row.get("measured"), row.get("bound")
    detail = str(row.get("detail") or "")
    if bug.present.holds(measured):
        return Verdict(PRESENT, measured, f"{bug.wire_present} ({detail})", bound)
    if bug.absent.holds(measured):
        return Verdict(ABSENT, measured, f"{bug.wire_absent} ({detail})", bound)
    why = (
        f"measured {measured!r} meets neither present ({bug.present.describe()}) nor absent "
        f"({bug.absent.describe()}); {detail}"
    )
    return Verdict(INCONCLUSIVE, measured, why, bound)


def pair_result(before: Verdict, after: Verdict) -> str:
    """'shown' when the bug is present before the fix and absent at it."""
    if before.status == PRESENT and after.status == ABSENT:
        return "shown"
    return f"not shown (before: {before.status}, after: {after.status})"
