"""Repetitions that disagree beyond their intervals: the criterion, the report, `regress`.

The criterion (docs/repetitions.md): the 95 % Wilson intervals of the repetitions' fault
rates do not all overlap. Checked on hand-made counts, on hand-made runs, and for its false
alarms on runs sampled from one seeded model (tests/regress_fixture.py).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hand_run import CONTROL, hand_run
from regress_fixture import CellModel, sample_stats, write_run

from closebench.cli import main
from closebench.regress.compare import Thresholds, compare_pairs
from closebench.regress.stability import ROW_NOTE, group_disagreements
from closebench.report import display as show
from closebench.report import headline, sections, stability
from closebench.report.stats import cell_counts, fault_table
from closebench.teardown.rates import Rate

BURST = "burst / ideal"


def reps(*counts: tuple[int, int]) -> list[stability.Repetition]:
    return [stability.Repetition(f"c-r{i}", i, Rate(k, n)) for i, (k, n) in enumerate(counts, 1)]


def test_intervals_that_overlap_agree() -> None:
    # 5/100 [2.2–11.2] and 9/100 [4.8–16.2] overlap
    assert stability.disagreement("s", BURST, reps((5, 100), (9, 100))) is None


def test_intervals_apart_disagree_and_name_both_cells() -> None:
    found = stability.disagreement("s", BURST, reps((0, 100), (30, 100)))
    assert found is not None
    assert (found.above.cell, found.below.cell) == ("c-r2", "c-r1")
    assert found.text() == (
        "s, burst / ideal: c-r2 30/100 = 30.0% [21.9%–39.6%] lies wholly above "
        "c-r1 0/100 = 0.0% [0.0%–3.7%]"
    )


def test_neighbours_overlapping_is_not_enough() -> None:
    # r1 [0–3.7] overlaps r2 [2.8–12.5], r2 overlaps r3 [9.3–23.3], but r1 and r3 do not
    found = stability.disagreement("s", BURST, reps((0, 100), (6, 100), (15, 100)))
    assert found is not None and (found.above.repetition, found.below.repetition) == (3, 1)
    assert "(other repetition: c-r2 6/100 = 6.0%" in found.text()


def test_one_usable_repetition_cannot_disagree() -> None:
    assert stability.disagreement("s", BURST, reps((0, 100))) is None
    assert stability.disagreement("s", BURST, reps((0, 100), (0, 0))) is None


def test_the_report_flags_the_condition_and_names_its_cells() -> None:
    run = hand_run(
        {
            CONTROL: {BURST: [(0, 100), (1, 100)]},
            "esp": {BURST: [(2, 100), (40, 100), (5, 100)], "burst / lossy": [(5, 100), (7, 100)]},
        }
    )
    (found,) = stability.disagreements(cell_counts(run))
    assert (found.stack, found.condition) == ("esp", BURST)
    assert found.cells == [f"esp__burst__ideal__r{i}" for i in (1, 2, 3)]
    flags = fault_table(run).set_index(["stack", "condition"])["unstable"]
    assert flags[("esp", BURST)] and not flags[("esp", "burst / lossy")]
    assert not flags[(CONTROL, BURST)]
    excess = headline.excess_table(run).set_index(["stack", "condition"])["unstable"]
    assert excess.to_dict() == flags.to_dict()
    table = stability.repetition_table([found])
    assert list(table["cell"]) == found.cells
    assert list(table[""]) == ["lowest upper bound", "highest lower bound", ""]


def test_false_flags_on_repetitions_of_one_rate_are_rare() -> None:
    """400 conditions x 3 repetitions of 400 connections, all at one fault rate (10 %, the
    regress fixture's model): about 1.5 % are flagged by chance (docs/repetitions.md), here 5
    of 400; a criterion on 50 % intervals would flag 228."""
    counts = np.random.default_rng(1).binomial(400, 0.1, size=(400, 3))
    flagged = sum(
        stability.disagreement("s", BURST, reps(*((int(k), 400) for k in row))) is not None
        for row in counts
    )
    assert flagged <= 12, flagged


def test_a_changed_repetition_is_flagged() -> None:
    cells = sample_stats(1, reps=3)
    changed = sample_stats(
        2, models={"nodemcu-3.0": CellModel().with_kind("rst_device", 0.25)}, reps=3
    )
    cid = "nodemcu-3.0__head-5rps__wifi-good__r2"
    cells[cid] = changed[cid]
    (found,) = group_disagreements(cells.values())
    assert found.stack == "nodemcu-3.0 (lwIP 1.4.0)"
    assert found.above.cell == cid


def test_compare_notes_the_unstable_group_and_marks_its_rows() -> None:
    base = sample_stats(1, reps=3)
    now = dict(sample_stats(3, reps=3))
    cid = "nodemcu-2016__head-5rps__wifi-lossy__r3"
    now[cid] = replace(now[cid], stack_faults=now[cid].connections // 2)
    pairs = [(c, base[c], now[c]) for c in sorted(base)]
    comp = compare_pairs(pairs, Thresholds(), "t", "baseline b", "run r")
    unstable = [n for n in comp.notes if n.startswith("unstable")]
    assert len(unstable) == 1 and unstable[0].startswith("unstable in run r: ")
    assert cid in unstable[0]
    marked = {r.cell for r in comp.rows if ROW_NOTE in r.note}
    assert marked == {f"nodemcu-2016__head-5rps__wifi-lossy__r{i}" for i in (1, 2, 3)}
    assert all(r.metric == "stack fault rate" for r in comp.rows if ROW_NOTE in r.note)
    # Row.test as documented: the test that gave p_raw, or "" when nothing was tested
    assert {r.test for r in comp.rows} <= {"fisher", "z", "bootstrap", "tolerance", ""}
    assert all(r.test == "" for r in comp.rows if r.p_raw is None and r.test != "tolerance")


def test_cli_regress_says_so_and_names_the_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOSEBENCH_RESULTS", str(tmp_path / "results"))
    base = write_run(tmp_path, "base", 1, reps=3)
    now = write_run(tmp_path, "now", 5, reps=3)
    bad = write_run(
        tmp_path,
        "bad",
        6,
        models={"nodemcu-3.0": CellModel().with_kind("half_closed", 0.3)},
        reps=3,
    )
    cid = "nodemcu-3.0__head-5rps__wifi-good__r1"
    for name in ("connections.parquet", "metrics.json"):
        shutil.copy(bad / cid / name, now / cid / name)
    assert main(["baseline", "save", str(base), "stab"]) == 0
    capsys.readouterr()
    main(["regress", "--baseline", "stab", "--run", str(now), "--markdown", str(tmp_path / "r.md")])
    out = capsys.readouterr().out.replace("\n", " ")
    assert "unstable in now: repetitions disagree beyond their 95% Wilson intervals" in out
    assert cid in out
    assert "repetitions disagree (see notes)" in (tmp_path / "r.md").read_text()


def test_the_answer_warns_and_names_the_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    html: list[str] = []
    monkeypatch.setattr(show, "display", lambda obj, *a, **k: html.append(obj.data))
    steady = hand_run(
        {CONTROL: {BURST: [(0, 100), (1, 100)]}, "esp": {BURST: [(9, 100), (12, 100)]}}
    )
    sections.repetition_warning(steady)
    assert html == []
    shaky = hand_run(
        {CONTROL: {BURST: [(0, 100), (1, 100)]}, "esp": {BURST: [(2, 100), (40, 100)]}}
    )
    sections.repetition_warning(shaky)
    (page,) = html
    assert "Unstable: in 1 condition the repetitions disagree beyond their 95% Wilson" in page
    assert "esp__burst__ideal__r2 40/100 = 40.0% [30.9%–49.8%] lies wholly above" in page
    assert "esp__burst__ideal__r1 2/100" in page


def test_cli_regress_pair_names_the_unstable_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_run(tmp_path, "run", 5, reps=3)
    bad = write_run(
        tmp_path,
        "bad",
        6,
        models={"nodemcu-3.0": CellModel().with_kind("half_closed", 0.3)},
        reps=3,
    )
    cid = "nodemcu-3.0__head-5rps__wifi-lossy__r3"
    for name in ("connections.parquet", "metrics.json"):
        shutil.copy(bad / cid / name, run / cid / name)
    main(["regress", "--run", str(run), "--pair", "nodemcu-2016:nodemcu-3.0"])
    out = capsys.readouterr().out.replace("\n", " ")
    assert "unstable in nodemcu-3.0: repetitions disagree" in out
    assert "unstable in nodemcu-2016" not in out
    assert cid in out
