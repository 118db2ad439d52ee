"""Regression checking: false alarms stay under alpha, real changes are caught, bad input exits 2.

Runs are sampled from the seeded close model in regress_fixture.py; see its docstring.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from regress_fixture import COOLDOWN_S, RUN_TIME_S, CellModel, sample_stats, write_run

from closebench.cli import main
from closebench.errors import UserError
from closebench.pipeline.runner import Matrix
from closebench.regress.baseline import load_baseline, save_baseline
from closebench.regress.compare import (
    Thresholds,
    compare_pairs,
    compare_variants,
    holm,
    proportion_test,
)
from closebench.schema import RESULT_SCHEMA_VERSION

CHANGED = "nodemcu-3.0"  # the variant whose model a test changes


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLOSEBENCH_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"


def _compare(
    seed_a: int,
    seed_b: int,
    models_b: dict[str, CellModel] | None = None,
    models_a: dict[str, CellModel] | None = None,
    **axes,
):
    a, b = sample_stats(seed_a, models_a, **axes), sample_stats(seed_b, models_b, **axes)
    return compare_pairs([(k, a[k], b[k]) for k in sorted(a)], Thresholds(), "t", "a", "b")


def _verdicts(comp, metric: str) -> set[str]:
    return {r.verdict for r in comp.rows if r.metric == metric and r.variant == CHANGED}


# --- statistics ---------------------------------------------------------------------------


def test_same_model_false_positive_rate_below_alpha() -> None:
    """200 pairs of runs from one model (4 cells, ~50 tests each): Holm keeps alarms rare."""
    pairs = 200
    flagged, raw_below, raw_total = 0, 0, 0
    for i in range(pairs):
        comp = _compare(10_000 + 2 * i, 10_001 + 2 * i)
        flagged += bool(comp.regressed)
        raw = [r.p_raw for r in comp.rows if r.p_raw is not None]
        raw_below += sum(p < 0.01 for p in raw)
        raw_total += len(raw)
    # alpha 0.01 family-wise; allow sampling slack up to 2 % of runs.
    assert flagged / pairs <= 0.02, f"{flagged}/{pairs} same-model pairs flagged"
    # Each single test is calibrated too (discrete tests are conservative, so at most ~alpha).
    assert raw_below / raw_total <= 0.015, f"raw p<0.01 in {raw_below}/{raw_total} tests"


def test_rst_after_fin_increase_is_a_regression() -> None:
    worse = {CHANGED: CellModel().with_kind("rst_after_fin", 0.12)}
    comp = _compare(1, 2, worse)
    assert comp.exit_code == 1
    assert _verdicts(comp, "close_kind rst_after_fin") == {"regressed"}
    assert {r.variant for r in comp.regressed} == {CHANGED}


def test_teardown_p99_doubled_is_a_regression() -> None:
    # The p99 sits in the duel tail (~3.6 % of connections), so it needs many connections:
    # with 3000 per cell it rests on ~100 duels. With 1000 the doubling is NOT detected
    # under Holm over ~50 tests (raw p ~0.01-0.04): a documented power limit.
    base = CellModel(connections=3000)
    comp = _compare(
        3,
        4,
        {"nodemcu-2016": base, CHANGED: replace(base, teardown_scale=2.0)},
        models_a={v: base for v in ("nodemcu-2016", CHANGED)},
    )
    assert comp.exit_code == 1
    assert "regressed" in _verdicts(comp, "teardown_ms p99")
    assert {r.metric for r in comp.regressed} == {"teardown_ms p99"}
    assert {r.variant for r in comp.regressed} == {CHANGED}


def test_time_wait_cap_removed_raises_peak_pcbs() -> None:
    comp = _compare(5, 6, {CHANGED: CellModel(peak_pcbs=40)})
    assert comp.exit_code == 1
    assert _verdicts(comp, "device peak PCBs") == {"regressed"}
    row = next(r for r in comp.regressed)
    assert row.p_raw is None and row.test == "tolerance"


def test_improvement_is_not_a_regression() -> None:
    bad = {v: CellModel().with_kind("rst_after_fin", 0.12) for v in ("nodemcu-2016", CHANGED)}
    fixed = dict(bad, **{CHANGED: CellModel()})
    comp = _compare(7, 8, fixed, models_a=bad)
    assert comp.exit_code == 0
    assert _verdicts(comp, "close_kind rst_after_fin") == {"improved"}


def test_small_significant_change_is_same_not_regressed() -> None:
    # +1.5 pp on 20 000 connections is significant but below the 2 pp minimum effect.
    base = CellModel(connections=20_000)
    comp = _compare(
        9,
        10,
        {CHANGED: base.with_kind("half_closed", 0.045)},
        models_a={v: base for v in ("nodemcu-2016", CHANGED)},
        links=("wifi-good",),
    )
    rows = [r for r in comp.rows if r.metric == "close_kind half_closed" and r.variant == CHANGED]
    assert rows[0].p_adj is not None and rows[0].p_adj < 0.01
    assert rows[0].verdict == "same" and "below min effect" in rows[0].note
    assert comp.exit_code == 0


def test_proportion_test_picks_fisher_for_rare_faults() -> None:
    p, test = proportion_test(0, 200, 3, 200)
    assert test == "fisher" and 0.05 < p < 0.5
    assert proportion_test(40, 400, 80, 400)[1] == "z"


def test_holm_matches_the_textbook_example() -> None:
    # Holm (1979) style: 0.01*3, max(0.02*2, 0.03), 0.04*1 -> monotone.
    assert holm([0.01, 0.02, 0.04]) == pytest.approx([0.03, 0.04, 0.04])


def test_min_effect_overrides_validate_keys() -> None:
    th = Thresholds().with_overrides(["rate_pp=5", "p99_pct=30%"])
    assert th.rate_pp == 5 and th.p99_pct == 30
    with pytest.raises(UserError, match="KEY=VALUE"):
        Thresholds().with_overrides(["nonsense=1"])


# --- baselines and input errors ----------------------------------------------------------


def test_baseline_save_and_compare_same_model(tmp_path: Path, results: Path) -> None:
    run = write_run(tmp_path, "20240601-000000-run", seed=11)
    path = save_baseline(run, "release-1")
    assert path == results / "baselines" / "release-1.json"
    doc = json.loads(path.read_text())
    assert doc["format_version"] == 1
    assert doc["harness"]["schema_version"] == RESULT_SCHEMA_VERSION
    cell = next(iter(doc["cells"].values()))
    assert {"close_kinds", "teardown_ms", "teardown_pkts_hist", "peak_pcbs"} <= set(cell)
    assert load_baseline("release-1").cells.keys() == {c for c in doc["cells"]}


def test_baseline_save_refuses_incomplete_run(tmp_path: Path, results: Path) -> None:
    run = write_run(tmp_path, "r-incomplete", seed=1, complete=False)
    with pytest.raises(UserError, match="incomplete") as err:
        save_baseline(run, "x")
    assert err.value.exit_code == 2
    assert not (results / "baselines" / "x.json").exists()


def test_baseline_save_refuses_overwrite_without_force(tmp_path: Path, results: Path) -> None:
    run = write_run(tmp_path, "r1", seed=1)
    save_baseline(run, "b")
    with pytest.raises(UserError, match="--force"):
        save_baseline(run, "b")
    save_baseline(run, "b", force=True)


def _saved(tmp_path: Path) -> tuple[Path, Path]:
    run = write_run(tmp_path, "base-run", seed=21)
    return run, save_baseline(run, "b")


def _edit(path: Path, fn) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def test_corrupted_baseline_json_exits_2(tmp_path: Path, results: Path, capsys) -> None:
    run, path = _saved(tmp_path)
    path.write_text(path.read_text()[:200])
    assert main(["regress", "--baseline", "b", "--run", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not valid JSON" in err and len(err.splitlines()) == 1


def test_missing_field_in_baseline_exits_2(tmp_path: Path, results: Path, capsys) -> None:
    run, path = _saved(tmp_path)
    _edit(path, lambda d: next(iter(d["cells"].values())).pop("close_kinds"))
    assert main(["regress", "--baseline", "b", "--run", str(run)]) == 2
    assert "missing field 'close_kinds'" in capsys.readouterr().err


def test_different_harness_schema_exits_2(tmp_path: Path, results: Path, capsys) -> None:
    run, path = _saved(tmp_path)
    _edit(path, lambda d: d["harness"].update(schema_version=RESULT_SCHEMA_VERSION + 1))
    assert main(["regress", "--baseline", "b", "--run", str(run)]) == 2
    assert "refusing to compare across harnesses" in capsys.readouterr().err


def test_different_matrix_exits_2(tmp_path: Path, results: Path, capsys) -> None:
    _saved(tmp_path)
    other = write_run(tmp_path, "other", seed=22, links=("wifi-good",))
    assert main(["regress", "--baseline", "b", "--run", str(other)]) == 2
    assert "different matrix" in capsys.readouterr().err


def test_a_variants_baseline_compares_its_cells_of_a_larger_run(
    tmp_path: Path, results: Path, capsys
) -> None:
    run = write_run(tmp_path, "both", seed=23)
    assert main(["baseline", "save", str(run), "n16", "--variant", "nodemcu-2016"]) == 0
    md = tmp_path / "n16.md"
    assert main(["regress", "--baseline", "n16", "--run", str(run), "--markdown", str(md)]) == 0
    table = md.read_text()
    assert "| nodemcu-2016__" in table and "nodemcu-3.0__" not in table
    assert "2 cells of other variants in the run are not compared" in table


def test_unknown_baseline_exits_2(tmp_path: Path, results: Path) -> None:
    run = write_run(tmp_path, "r", seed=1)
    assert main(["regress", "--baseline", "nope", "--run", str(run)]) == 2


# --- CLI end to end ----------------------------------------------------------------------


def test_cli_end_to_end(tmp_path: Path, results: Path, capsys) -> None:
    base = write_run(tmp_path, "base", seed=31)
    assert main(["baseline", "save", str(base), "rel-1"]) == 0
    same = write_run(tmp_path, "same", seed=32)
    md = tmp_path / "same.md"
    assert main(["regress", "--baseline", "rel-1", "--run", str(same), "--markdown", str(md)]) == 0
    out = capsys.readouterr().out
    assert "not significant" in out and "no regression" in out
    assert "| verdict |" in md.read_text()

    worse = write_run(
        tmp_path, "worse", seed=33, models={CHANGED: CellModel().with_kind("rst_after_fin", 0.12)}
    )
    md = tmp_path / "worse.md"
    code = main(["regress", "--baseline", "rel-1", "--run", str(worse), "--markdown", str(md)])
    assert code == 1
    assert "REGRESSED" in capsys.readouterr().out
    assert "**regressed**" in md.read_text() and "rst_after_fin" in md.read_text()


def test_cli_pair_compares_two_releases_in_one_run(tmp_path: Path, results: Path, capsys) -> None:
    run = write_run(
        tmp_path, "pair", seed=41, models={CHANGED: CellModel().with_kind("half_closed", 0.15)}
    )
    assert main(["regress", "--run", str(run), "--pair", f"nodemcu-2016:{CHANGED}"]) == 1
    assert "close_kind half_closed" in capsys.readouterr().out
    comp = compare_variants(run, CHANGED, "nodemcu-2016")  # the other way round: improved
    assert comp.exit_code == 0
    assert "improved" in {r.verdict for r in comp.rows if r.metric == "close_kind half_closed"}
    assert main(["regress", "--run", str(run), "--pair", "nodemcu-2016:missing"]) == 2


def test_cli_without_run_measures_the_baseline_matrix(
    tmp_path: Path, results: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = write_run(tmp_path, "base", seed=51)
    assert main(["baseline", "save", str(base), "rel"]) == 0
    _edit(results / "baselines" / "rel.json",
          lambda d: d["variants"]["nodemcu-2016"].update(device_speed="model"))  # fmt: skip
    fresh = write_run(tmp_path, "fresh", seed=52)
    manifest = json.loads((fresh / "manifest.json").read_text())
    manifest["variants"]["nodemcu-2016"]["device_speed"] = "model"
    (fresh / "manifest.json").write_text(json.dumps(manifest))
    asked: list[tuple] = []

    def make_matrix(*axes, **kwargs):
        asked.append((axes, kwargs))
        return Matrix(variants=[], profiles=[], links=[], repetitions=1, lwip=None,
                      run_time_s=RUN_TIME_S, cooldown_s=COOLDOWN_S)  # fmt: skip

    def run_matrix(matrix, kind):
        assert isinstance(matrix, Matrix) and matrix.run_time_s == RUN_TIME_S
        return fresh

    # The bench itself is not run here: what regress asks of it is the point.
    monkeypatch.setattr("closebench.pipeline.runner.make_matrix", make_matrix)
    monkeypatch.setattr("closebench.pipeline.runner.run_matrix", run_matrix)
    assert main(["regress", "--baseline", "rel"]) == 0
    ((axes, kwargs),) = asked
    assert axes == (
        ["nodemcu-2016", "nodemcu-3.0"], ["head-5rps"], ["wifi-good", "wifi-lossy"], 1, None,
        False, RUN_TIME_S, COOLDOWN_S,
    )  # fmt: skip
    assert kwargs == {
        "source_mode": "approximation",  # as the baseline's builds were
        # each variant at the device speed its baseline ran at
        "device_speed": {"nodemcu-2016": "model", "nodemcu-3.0": "host"},
        # the app each variant served: a baseline from before [[apps]] served the bench's page
        "app": {"nodemcu-2016": "http11"},
    }


def test_a_run_at_another_device_speed_is_refused(tmp_path: Path, results: Path, capsys) -> None:
    run, path = _saved(tmp_path)
    _edit(path, lambda d: d["variants"]["nodemcu-3.0"].update(device_speed="model"))
    assert main(["regress", "--baseline", "b", "--run", str(run)]) == 2
    assert "ran at device speed 'model', the run at 'host'" in capsys.readouterr().err


def test_a_chip_model_with_other_timing_figures_is_refused(
    tmp_path: Path, results: Path, capsys
) -> None:
    # issue 25 changed the [timing] figures: a baseline on the old chip model is another device
    run, path = _saved(tmp_path)
    old = {"costs_us": {"accept": {"stack": 400, "app": 300}}, "tick_ms": 125, "queue": 8}
    new = {"costs_us": {"accept": {"stack": 53, "app": 300}}, "tick_ms": 125, "queue": 8}
    _edit(path, lambda d: d["variants"]["nodemcu-2016"].update(device_speed="model", timing=old))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["variants"]["nodemcu-2016"].update(device_speed="model", timing=new)
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert main(["regress", "--baseline", "b", "--run", str(run)]) == 2
    err = capsys.readouterr().err
    assert "other [timing] figures" in err and "re-record the baseline" in err


def _mark_exact(doc: dict) -> None:
    for entry in doc["variants"].values():
        entry.update(exact_source=True, source="exact source (nodemcu/nodemcu-firmware@98d3b46)")


def test_exact_baseline_without_its_archive_names_it_before_running(
    tmp_path: Path, results: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    _run, path = _saved(tmp_path)
    _edit(path, _mark_exact)
    path.with_name("b.approximation.json").write_text(path.read_text())
    monkeypatch.setenv("CLOSEBENCH_SOURCES", str(tmp_path / "no-sources"))
    monkeypatch.setenv("CLOSEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("closebench.pipeline.runner.run_matrix", pytest.fail)
    assert main(["regress", "--baseline", "b"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "nodemcu+nodemcu-firmware@98d3b46e2c11068f361154a564ce75a048c9dadc.tar.gz" in err
    assert "--baseline b.approximation" in err


def test_exact_baseline_against_an_approximation_run_is_refused(
    tmp_path: Path, results: Path, capsys
) -> None:
    run, path = _saved(tmp_path)
    _edit(path, _mark_exact)
    assert main(["regress", "--baseline", "b", "--run", str(run)]) == 2
    err = capsys.readouterr().err
    assert "was measured on exact source" in err and "two different stacks" in err


def test_baseline_of_one_variant_keeps_its_cells_and_matrix(tmp_path: Path, results: Path) -> None:
    run = write_run(tmp_path, "two", seed=61)
    assert main(["baseline", "save", str(run), "n16", "--variant", "nodemcu-2016"]) == 0
    doc = json.loads((results / "baselines" / "n16.json").read_text())
    assert doc["matrix"]["variants"] == ["nodemcu-2016"]
    assert list(doc["variants"]) == ["nodemcu-2016"]
    assert doc["cells"] and all(c["variant"] == "nodemcu-2016" for c in doc["cells"].values())
    with pytest.raises(UserError, match=r"no cells of variant 'esp-idf-5\.3'"):
        save_baseline(run, "x", variant="esp-idf-5.3")


def test_changed_link_definition_is_refused(tmp_path: Path, results: Path, capsys) -> None:
    run, path = _saved(tmp_path)
    _edit(path, lambda d: d["harness"]["links"].update({"wifi-good": "0" * 64}))
    assert main(["regress", "--baseline", "b", "--run", str(run)]) == 2
    assert "link 'wifi-good' is defined differently" in capsys.readouterr().err


def test_the_same_profile_from_another_checkout_is_the_same_harness(
    tmp_path: Path, results: Path
) -> None:
    run, _path = _saved(tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    for kind in ("profiles", "links"):
        for name, definition in manifest[kind].items():
            definition["path"] = f"/elsewhere/benchmarks/{kind}/{name}.toml"
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert main(["regress", "--baseline", "b", "--run", str(run)]) == 0


def test_a_run_of_another_app_is_refused(tmp_path: Path, results: Path, capsys) -> None:
    run, _ = _saved(tmp_path)  # a baseline from before [[apps]]: the bench's page ("http11")
    readme = {"app": {"name": "readme"}, "apps": ["readme", "http11"]}
    _edit(run / "manifest.json", lambda d: d["variants"]["nodemcu-2016"].update(readme))
    assert main(["regress", "--baseline", "b", "--run", str(run)]) == 2
    assert "served the app 'http11', the run 'readme'" in capsys.readouterr().err
    http11 = {"app": {"name": "http11"}, "apps": ["readme", "http11"]}
    _edit(run / "manifest.json", lambda d: d["variants"]["nodemcu-2016"].update(http11))
    assert main(["regress", "--baseline", "b", "--run", str(run)]) != 2


def test_a_baseline_is_re_measured_on_its_own_chip_model() -> None:
    """The shipped baselines predate the measured [timing] and the heap budget: a re-measure
    runs the device with the baseline's recorded costs and no heap, not today's figures."""
    from closebench.commands.regress import on_baseline_chip
    from closebench.variants.manifest import load_variant

    today = load_variant("nodemcu-2016").with_device_speed("model")
    old = {ev: {"stack": 400, "app": 300} for ev in today.timing.costs}  # type: ignore[union-attr]
    entry = {"kind": "lwip", "timing": {"costs_us": old, "tick_ms": 125, "queue": 8}}
    pinned = on_baseline_chip(today, entry)
    spec = pinned.speed_args()[1]
    assert spec.startswith("accept=400:300,receive=400:300") and spec.endswith("queue=8")
    assert today.speed_args() != pinned.speed_args()
    assert "--heap-bytes" in today.device_args() and "--heap-bytes" not in pinned.device_args()
    budget = {**entry, "heap": {"free_bytes": 20000, "note": "n"}}
    args = on_baseline_chip(today, budget).device_args()
    assert args[args.index("--heap-bytes") + 1] == "20000"
    # an entry without a model (host speed, or the Linux reference) leaves the timing alone
    assert on_baseline_chip(today, {"kind": "lwip"}).timing == today.timing
