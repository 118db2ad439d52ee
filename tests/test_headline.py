"""The answer's sentences, case by case, on hand-made runs (tests/hand_run.py).

Every stack other than the control must be named in exactly one verdict sentence, and that
sentence must say what its excess intervals say: worse, better, mixed or can't tell.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hand_run import CONTROL, Spec, hand_run

from closebench.report import display as show
from closebench.report import headline, sections
from closebench.report.stats import fault_table

BURST, LOSSY = "burst / ideal", "burst / wifi-lossy"


def said(spec: Spec, **kwargs: object) -> list[str]:
    return headline.sentences(headline.excess_table(hand_run(spec, **kwargs)))


def naming(sentences: list[str], stack: str) -> list[str]:
    return [s for s in sentences if re.search(rf"(^|[ ,(]){re.escape(stack)}\b", s)]


def test_worse_everywhere() -> None:
    out = said(
        {
            CONTROL: {BURST: [(0, 100)], LOSSY: [(1, 100)]},
            "esp": {BURST: [(40, 100)], LOSSY: [(50, 100)]},
        }
    )
    (line,) = naming(out, "esp")
    assert line.startswith("esp answers the client's FIN with a RST on 40%–50% of its connections")
    assert "in all 2 conditions" in line and "above the Linux control" in line


def test_better_than_the_control_everywhere_is_not_called_worse() -> None:
    out = said(
        {
            CONTROL: {BURST: [(30, 100)], LOSSY: [(40, 100)]},
            "esp": {BURST: [(0, 100)], LOSSY: [(1, 100)]},
        }
    )
    (line,) = naming(out, "esp")
    assert "worse" not in line
    assert line.startswith("esp closes more cleanly than the Linux control in all 2 conditions")
    assert "its stack-fault rate is 0%–1.0%, the control's 30%–40%" in line


def test_worse_in_some_conditions_and_level_in_the_rest() -> None:
    out = said(
        {
            CONTROL: {BURST: [(0, 100)], LOSSY: [(2, 100)]},
            "esp": {BURST: [(40, 100)], LOSSY: [(3, 100)]},
        }
    )
    (line,) = naming(out, "esp")
    assert line == (
        "esp closes worse than the Linux control in 1 of 2 conditions (burst / ideal); in 1 of 2 "
        "conditions (burst / wifi-lossy) the two cannot be told apart (see the table below)."
    )


def test_worse_in_one_condition_and_better_in_another() -> None:
    out = said(
        {
            CONTROL: {BURST: [(0, 100)], LOSSY: [(40, 100)]},
            "esp": {BURST: [(40, 100)], LOSSY: [(0, 100)]},
        }
    )
    (line,) = naming(out, "esp")
    assert "worse than the Linux control in 1 of 2 conditions (burst / ideal)" in line
    assert "more cleanly than it in 1 of 2 conditions (burst / wifi-lossy)" in line
    assert "cannot be told apart" not in line


def test_better_in_some_and_level_in_the_rest() -> None:
    out = said(
        {
            CONTROL: {BURST: [(40, 100)], LOSSY: [(0, 100)]},
            "esp": {BURST: [(0, 100)], LOSSY: [(0, 100)]},
        }
    )
    (line,) = naming(out, "esp")
    assert "worse" not in line
    assert "more cleanly than it in 1 of 2 conditions (burst / ideal)" in line
    assert "in 1 of 2 conditions (burst / wifi-lossy) the two cannot be told apart" in line


def test_cannot_tell_with_few_connections_and_as_cleanly_with_many() -> None:
    out = said(
        {
            CONTROL: {BURST: [(2, 1000)]},
            "esp-few": {BURST: [(0, 10)]},
            "esp-many": {BURST: [(1, 1000)]},
        }
    )
    (few,) = naming(out, "esp-few")
    (many,) = naming(out, "esp-many")
    assert few.startswith("esp-few cannot be told apart from the Linux control")
    assert many.startswith("esp-many closes as cleanly as the Linux control")


def test_eight_stacks_worse_are_all_said_and_the_cap_is_stated(monkeypatch) -> None:
    stacks = [f"esp{i}" for i in range(8)]
    spec: Spec = {CONTROL: {BURST: [(0, 200)]}} | {
        s: {BURST: [(20 + 5 * i, 200)]} for i, s in enumerate(stacks)
    }
    out = said(spec)
    for stack in stacks:
        (line,) = naming(out, stack)
        assert "above the Linux control" in line
    assert len(out) == 9  # eight stacks and the control
    # worst first
    assert [s.split()[0] for s in out[:8]] == stacks[::-1]

    html: list[str] = []
    monkeypatch.setattr(show, "display", lambda obj, *a, **k: html.append(obj.data))
    sections.answer_sentences(out)
    page = "".join(html)
    assert "The first screen shows 6 of 9 sentences; the other 3 are folded just below." in page
    assert "3 more sentences</summary>" in page
    for sentence in out:  # nothing dropped: the ones past the cap are in the fold
        assert show.html.escape(sentence) in page


def test_no_cap_statement_when_everything_fits(monkeypatch) -> None:
    html: list[str] = []
    monkeypatch.setattr(show, "display", lambda obj, *a, **k: html.append(obj.data))
    sections.answer_sentences(["one.", "two."])
    assert "first screen shows" not in "".join(html) and "<details" not in "".join(html)


def test_no_control_only_control_and_a_condition_without_control() -> None:
    assert said({"esp": {BURST: [(5, 100)]}})[0].startswith("This run has no Linux control")
    assert said({CONTROL: {BURST: [(0, 100)]}})[0].startswith("Only the Linux control")
    out = said({CONTROL: {BURST: [(0, 100)]}, "esp": {BURST: [(40, 100)], LOSSY: [(40, 100)]}})
    assert naming(out, "esp")[0].startswith("esp answers the client's FIN with a RST on 40% of")
    assert "No Linux control ran under burst / wifi-lossy: esp is not compared there" in out[1]


def test_every_stack_named_in_exactly_one_verdict_sentence() -> None:
    spec: Spec = {
        CONTROL: {BURST: [(10, 200)], LOSSY: [(10, 200)]},
        "st-worse": {BURST: [(80, 200)], LOSSY: [(90, 200)]},
        "st-better": {BURST: [(0, 200)], LOSSY: [(0, 200)]},
        "st-mixed": {BURST: [(80, 200)], LOSSY: [(0, 200)]},
        "st-level": {BURST: [(11, 200)], LOSSY: [(9, 200)]},
    }
    out = said(spec)
    verdicts = [s for s in out if "control" in s and not s.startswith("The Linux control")]
    for stack in ("st-worse", "st-better", "st-mixed", "st-level"):
        assert len(naming(verdicts, stack)) == 1, (stack, out)


def test_the_excess_table_and_the_fault_table_count_alike() -> None:
    run = hand_run({CONTROL: {BURST: [(0, 50), (1, 50)]}, "esp": {BURST: [(10, 50), (12, 60)]}})
    excess, faults = headline.excess_table(run), fault_table(run)
    merged = excess.merge(faults, on=["stack", "condition"])
    assert (merged["stack_faults"] == merged["faulty"]).all()
    assert (merged["connections_x"] == merged["connections_y"]).all()
    assert merged.loc[merged["stack"] == "esp", "faulty"].item() == 22


def test_a_run_of_schema_1_falls_back_to_faulty_in_both_tables() -> None:
    run = hand_run({CONTROL: {BURST: [(0, 100)]}, "esp": {BURST: [(40, 100)]}}, old_schema=True)
    excess, faults = headline.excess_table(run), fault_table(run)
    assert set(excess["counted"]) == {"faulty"}
    assert excess.set_index("stack")["stack_faults"].to_dict() == {CONTROL: 0, "esp": 40}
    assert faults.set_index("stack")["faulty"].to_dict() == {CONTROL: 0, "esp": 40}
    out = headline.sentences(excess)
    assert out[-1] == "The Linux control's fault rate is at most 0%."


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (0.01, 0.2, "worse"),
        (-0.2, -0.01, "better"),
        (-0.1, 0.1, "level"),
        (0.0, 0.1, "level"),
        (-0.1, 0.0, "level"),
    ],
)
def test_row_verdict_is_the_side_of_zero_the_interval_is_on(
    low: float, high: float, verdict: str
) -> None:
    assert headline.row_verdict(low, high) == verdict


def test_stack_verdict_is_mixed_only_when_conditions_differ() -> None:
    rows = pd.DataFrame({"excess_low": [0.1, -0.3], "excess_high": [0.2, -0.1]})
    assert headline.stack_verdict(rows) == "mixed"
    assert headline.stack_verdict(rows.iloc[:1]) == "worse"
