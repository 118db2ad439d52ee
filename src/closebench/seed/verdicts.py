"""Verdict rules, one per observation of the 2016 post (results/README.md, seed.json).

Each rule reads one cell's figures (`CellFigures`, built from connections.parquet and the
capture by closebench.seed.evidence) and says "reproduced", "partly" or "not reproduced".
The thresholds are the analyzer's own (clean close, duel) or stated here once, with why;
none was chosen after seeing a result.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

REPRODUCED, PARTLY, NOT = "reproduced", "partly", "not reproduced"
VERDICTS = (REPRODUCED, PARTLY, NOT)
# No cell of a hypothesis completed (e.g. skipped by a failed verify): nothing to judge, which is
# not the same as "not reproduced".
NOT_MEASURED = "not measured"
OBSERVATIONS = {
    "3": "At first every close is clean; after a few iterations the closes start to go wrong.",
    "4": "The ESP closes first, right after sending its response.",
    "5": "The close turns into a back-and-forth (duel) between the two stacks.",
    "6": "After the script stopped, the duel went on.",
    "7": "Not seen under light load or infrequent connections.",
}
# "At first things seemed to run along smoothly": at least this many clean closes first.
# "A few" is read as three, the smallest number the word is used for.
FIRST_CLEAN_MIN = 3
# "began stumbling": once faults start they are the rule, not an exception: at least half of
# the connections after the first faulty one are faulty.
STUMBLING_SHARE = 0.5
# "right after sending its response": the device's FIN within one second of its last
# payload byte (the analyzer's duel_min_ms, the bench's unit of "promptly").
RIGHT_AFTER_S = 1.0
# "the ESP closes first": the device is the first closer of nearly every connection.
CLOSER_SHARE = 0.9
# Observation 7: the 0.2 s phase must be worse than the 1 s phase at this significance.
ALPHA = 0.01
# Observation 5, "the duel is how the closes go wrong": at least this share of the faulty closes
# after the first faulty one are duels in which both stacks send teardown packets back and forth.
# Stated in issue 26 before the grid was measured; it replaced "one back-and-forth duel anywhere
# is enough" (schema 1), which called obs. 5 reproduced on one duel among ~200 connections.
DUEL_SHARE = 0.5
OBS5_RULE_CHANGE = {
    "from": "reproduced: >= 1 back-and-forth duel anywhere in the cell (seed.json schema 1)",
    "to": f"reproduced: >= {DUEL_SHARE:.0%} of the faulty closes after the first faulty one are "
    "back-and-forth duels; partly: >= 1 such duel, fewer than that; not reproduced: none",
    "why": "the post describes the duel as the usual way the closes went wrong after the first "
    "few, not as a rare event; the old rule called one duel among ~200 connections reproduced "
    "(issue 26, stated before the hypothesis grid was measured)",
}


@dataclass
class CellFigures:
    """What the rules need from one cell; every figure also goes into seed.json."""

    cell_id: str
    connections: int
    first_faulty: dict[str, Any] | None  # conn_id, index, t_s, phase
    clean_before_first_fault: int
    faulty_after_first: int
    after_first: int
    closers: dict[str, int]
    device_fin_gap_s_median: float | None
    duels: list[int]  # conn_ids of duel connections
    back_and_forth: list[int]  # duels where both sides sent >= 2 teardown packets
    after_load: dict[str, Any]  # packets after load stop (+ margin), by side; conn ids
    after_load_duels: list[int]  # back-and-forth duels still exchanging after the load stop
    phases: list[dict[str, Any]]  # per phase: interval_s, connections, faulty, duels
    composition: dict[str, dict[str, int]] = field(default_factory=dict)
    # back-and-forth duels among the faulty closes after the first faulty one (obs. 5)
    duels_after_first: int = 0


def obs3(f: CellFigures) -> str:
    if f.first_faulty is None:
        return NOT
    stumbling = f.after_first and f.faulty_after_first / f.after_first >= STUMBLING_SHARE
    if f.clean_before_first_fault >= FIRST_CLEAN_MIN and stumbling:
        return REPRODUCED
    return PARTLY


def obs4(f: CellFigures) -> str:
    total = sum(f.closers.values())
    if not total:
        return NOT
    share = f.closers.get("device", 0) / total
    prompt = f.device_fin_gap_s_median is not None and f.device_fin_gap_s_median <= RIGHT_AFTER_S
    if share >= CLOSER_SHARE and prompt:
        return REPRODUCED
    return PARTLY if share >= 0.5 else NOT


def obs5(f: CellFigures) -> str:
    """The duel is how the closes go wrong: most faulty closes after the first are duels."""
    if not f.back_and_forth:
        return NOT
    if f.faulty_after_first and f.duels_after_first / f.faulty_after_first >= DUEL_SHARE:
        return REPRODUCED
    return PARTLY


def obs6(f: CellFigures) -> str:
    if f.after_load_duels:
        return REPRODUCED
    return PARTLY if f.after_load.get("packets", 0) else NOT


def obs7(f: CellFigures) -> str:
    """Faults in the fast phase, clearly fewer (and no duel) in the slow one."""
    if len(f.phases) < 2:
        return NOT
    slow, fast = f.phases[0], f.phases[-1]
    if not fast["faulty"]:
        return NOT
    from scipy.stats import fisher_exact

    table = [
        [fast["faulty"], fast["connections"] - fast["faulty"]],
        [slow["faulty"], slow["connections"] - slow["faulty"]],
    ]
    p = float(fisher_exact(table, alternative="greater")[1])
    fast_rate = fast["faulty"] / max(1, fast["connections"])
    slow_rate = slow["faulty"] / max(1, slow["connections"])
    if p < ALPHA and not slow["duels"]:
        return REPRODUCED
    return PARTLY if fast_rate > slow_rate else NOT


RULES = {"3": obs3, "4": obs4, "5": obs5, "6": obs6, "7": obs7}
RULE_TEXT = {
    "3": f"reproduced: >= {FIRST_CLEAN_MIN} clean closes before the first faulty one and >= "
    f"{STUMBLING_SHARE:.0%} of the later connections faulty; partly: faults, but from the start "
    "or sparse; not reproduced: no faulty close",
    "4": f"reproduced: the device closes first in >= {CLOSER_SHARE:.0%} of connections and its FIN "
    f"follows its response by <= {RIGHT_AFTER_S:g} s (median); partly: device first in >= 50%; "
    "not reproduced: otherwise",
    "5": f"reproduced: >= {DUEL_SHARE:.0%} of the faulty closes after the first faulty one are "
    "duels in which both stacks sent >= 2 teardown packets (analyzer duel: >= 6 teardown packets "
    "for >= 1 s or past the load stop); partly: >= 1 such duel, but fewer; not reproduced: none "
    "(rule changed in issue 26, see seed.json rule_changes)",
    "6": "reproduced: a back-and-forth duel still exchanging packets after the load stopped; "
    "partly: other TCP packets after the load stop (+1 s); not reproduced: silence",
    "7": f"reproduced: the 0.2 s phase has a higher fault rate than the 1 s phase (Fisher, one-"
    f"sided, p < {ALPHA}) and the 1 s phase has no duel; partly: higher but not significantly; "
    "not reproduced: no fault in the 0.2 s phase, or not higher",
}


def judge(f: CellFigures) -> dict[str, str]:
    return {key: rule(f) for key, rule in RULES.items()}


def overall(verdicts: list[str]) -> str:
    """Across seeds: the most frequent verdict; a tie goes to the weaker one."""
    if not verdicts:
        return NOT_MEASURED
    counts = Counter(verdicts)
    best = max(counts.values())
    for verdict in reversed(VERDICTS):  # weakest first
        if counts.get(verdict) == best:
            return verdict
    return NOT
