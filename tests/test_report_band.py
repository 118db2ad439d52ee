"""The answer screen across the chip's timing band (issue 25, report/band_section.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hand_run import CONTROL, hand_run

from closebench.pipeline import band
from closebench.report import band_section
from closebench.report.data import RunData

COND = "seed-200ms / ideal"
SLOW = "timing-band/20261208-014800-model-slow"


def _model_run(tmp_path: Path, stack_faults: int, *, speed: str = "model") -> RunData:
    """nodemcu with `stack_faults` of 100 connections, the Linux control with none."""
    run = hand_run({"nodemcu": {COND: [(stack_faults, 100)]}, CONTROL: {COND: [(0, 100)]}})
    run.run_dir = tmp_path
    run.manifest["variants"]["nodemcu"]["device_speed"] = speed
    return run


def _with_slow_end(
    monkeypatch, run: RunData, slow_faults: int, *, duels: int = 0, manifest: dict | None = None
) -> list[Path]:
    """timing-band.json naming a slow end where nodemcu ran again (fast end = model)."""
    doc = {"runs": {"model": ".", "model-slow": SLOW}, "cells": {}, "timing_sensitive": []}
    (run.run_dir / band.BAND_FILE).write_text(json.dumps(doc))
    (run.run_dir / SLOW).mkdir(parents=True)
    (run.run_dir / SLOW / "manifest.json").write_text(json.dumps(manifest or {}))
    slow = hand_run({"nodemcu": {COND: [(slow_faults, 100)]}})
    slow.connections.loc[: duels - 1, "duel"] = True
    loaded = []

    def load(path: Path) -> RunData:
        loaded.append(path)
        return slow

    monkeypatch.setattr(band_section, "load_run", load)
    assert band_section.status_line(run) is None
    return loaded


def test_a_verdict_that_moves_inside_the_band_is_timing_sensitive(tmp_path, monkeypatch) -> None:
    run = _model_run(tmp_path, 30)
    loaded = _with_slow_end(monkeypatch, run, 1)  # 30 % worse at the model, level when slow
    items, _cells = band_section.band_items(run, band_section.read_band(run))
    assert loaded == [tmp_path / SLOW]  # the end is re-read from the run the band names
    (line,) = items
    assert line.startswith(
        "nodemcu: <b>timing-sensitive</b>: 30% (slow end 1.0%, fast end = model)"
    )
    assert "worse than the Linux control at the model (30%)" in line
    assert "level with the Linux control at the slow end (1.0%)" in line


def test_a_verdict_that_holds_across_the_band_is_not(tmp_path, monkeypatch) -> None:
    run = _model_run(tmp_path, 30)
    _with_slow_end(monkeypatch, run, 45)  # a larger rate, the same verdict
    (line,) = band_section.band_items(run, band_section.read_band(run))[0]
    assert line == (
        "nodemcu: 30% (slow end 45%, fast end = model); worse than the Linux control at every point"
    )


def test_duels_that_appear_only_at_an_end_are_timing_sensitive(tmp_path, monkeypatch) -> None:
    run = _model_run(tmp_path, 30)
    run.manifest["variants"]["nodemcu"]["timing"] = {"connection_us": 6900.0}
    slow_manifest = {"variants": {"nodemcu": {"timing": {"connection_us": 9339.0}}}}
    _with_slow_end(monkeypatch, run, 30, duels=3, manifest=slow_manifest)
    (line,) = band_section.band_items(run, band_section.read_band(run))[0]
    tagged = "nodemcu: <b>timing-sensitive</b>: 30% (slow end 30%, fast end = model)"
    assert line.startswith(f"{tagged}; duels 0 (slow end 3)")
    assert "6.9 ms (slow end 9.3 ms) per short connection" in line
    assert line.endswith("; duels 0 at the model, 3 at the slow end")


def test_each_condition_that_moves_is_named_where_a_stack_has_several(
    tmp_path, monkeypatch
) -> None:
    other = "seed-200ms / wifi-lossy"
    run = hand_run(
        {
            "nodemcu": {COND: [(30, 100)], other: [(30, 100)]},
            CONTROL: {COND: [(0, 100)], other: [(0, 100)]},
        }
    )
    run.run_dir = tmp_path
    run.manifest["variants"]["nodemcu"]["device_speed"] = "model"
    _with_slow_end(monkeypatch, run, 30)
    slow = hand_run({"nodemcu": {COND: [(30, 100)], other: [(1, 100)]}})
    monkeypatch.setattr(band_section, "load_run", lambda _path: slow)
    (line,) = band_section.band_items(run, band_section.read_band(run))[0]
    assert "verdict worse than the Linux control at the model (30%), mixed against" in line
    assert f"{other}: worse at the model (30%), level at the slow end (1.0%)" in line
    assert f"{COND}:" not in line  # worse at every point: it did not move


def test_without_a_band_the_answer_says_so_in_one_line(tmp_path) -> None:
    run = _model_run(tmp_path, 30)
    assert band_section.status_line(run) == band_section.NOT_MEASURED
    assert "--quick" in band_section.NOT_MEASURED and "--timing-band" in band_section.NOT_MEASURED
    run.manifest["timing_band"] = {"state": "interrupted", "runs": {}}
    assert band_section.status_line(run) == band_section.INTERRUPTED


def test_a_seed_study_points_at_its_own_band(tmp_path) -> None:
    run = _model_run(tmp_path, 30)
    (run.run_dir / "seed.json").write_text("{}")  # the seed study's band is per hypothesis
    assert band_section.status_line(run) == band_section.IN_SEED_STUDY


def test_a_run_at_host_speed_is_labelled_so(tmp_path) -> None:
    run = _model_run(tmp_path, 30, speed="host")
    assert band_section.status_line(run).startswith(
        "nodemcu ran at host speed (faster than any chip)"
    )


def _fixture_run(tmp_path: Path) -> Path:
    from report_fixture import build_run

    run_dir = build_run(tmp_path / "20251009-085319-compare")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for name in ("nodemcu", "arduino"):
        manifest["variants"][name]["device_speed"] = "model"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir


def test_the_rendered_report_shows_the_band_read_from_its_runs(tmp_path) -> None:
    pytest.importorskip("nbconvert", reason="rendering needs the report extra (nbconvert)")
    from closebench.report import render_report

    run_dir = _fixture_run(tmp_path)
    plain = render_report(run_dir, log=lambda _m: None)["html"].read_text()
    assert "timing band not measured (run compare without --quick, or --timing-band)" in plain
    # the slow end: the same cells again (here the same captures, so nothing moves)
    slow = run_dir / "timing-band" / "20251009-090000-model-slow"
    shutil.copytree(run_dir, slow, ignore=shutil.ignore_patterns("timing-band"))
    band.compare_band({"model": run_dir, "model-slow": slow}, run_dir)
    page = render_report(run_dir, log=lambda _m: None)["html"].read_text()
    assert "timing band not measured" not in page
    assert "timing band (stack-fault rate at the model; its ends)" in page
    assert "slow end" in page and "fast end = model" in page
    assert "timing-sensitive" not in page
