"""`compare` measures the timing band by default; its runs live inside the model's run, and a
Ctrl-C during the band leaves the model's run whole with an honest manifest (issue 25)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from closebench.cli import build_parser
from closebench.commands import band_run
from closebench.pipeline import runner


@pytest.mark.parametrize(
    ("argv", "measured"),
    [
        (["compare"], True),
        (["compare", "--quick"], False),
        (["compare", "--quick", "--timing-band"], True),
        (["compare", "--no-timing-band"], False),
        (["run", "--profiles", "seed-200ms", "--links", "ideal"], False),
        (["run", "--profiles", "seed-200ms", "--links", "ideal", "--timing-band"], True),
    ],
)
def test_the_full_compare_measures_the_band_unless_told_not_to(argv, measured) -> None:
    assert band_run.wants_band(build_parser().parse_args(argv)) is measured


def _model_run(tmp_path: Path, speed: str = "model") -> tuple[runner.Matrix, Path]:
    matrix = runner.make_matrix(
        ["nodemcu-2016", "linux-reference"], ["seed-200ms"], ["ideal"], device_speed=speed
    )
    run_dir = tmp_path / "20261208-010000-compare"
    run_dir.mkdir()
    manifest = {"run_id": run_dir.name, "cells": [{"id": "c", "status": "ok"}], "complete": True}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return matrix, run_dir


def test_ctrl_c_in_the_band_keeps_the_model_run_and_says_so(tmp_path, monkeypatch) -> None:
    matrix, run_dir = _model_run(tmp_path)
    asked: list[dict] = []

    def interrupted_end(end_matrix: runner.Matrix, **kw: object) -> Path:
        asked.append({"variants": [v.device_speed for v in end_matrix.variants], **kw})
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_matrix", interrupted_end)
    args = build_parser().parse_args(["compare"])
    with pytest.raises(KeyboardInterrupt):
        band_run.run_band(args, matrix, run_dir, 1, None, Console(file=None, quiet=True))
    # only the chip variant runs again, at an end, into the model's own run directory
    assert asked and asked[0]["variants"] in (["model-fast"], ["model-slow"])
    assert asked[0]["results"] == run_dir / band_run.BAND_FOLDER
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["cells"] == [{"id": "c", "status": "ok"}]
    assert manifest["timing_band"]["state"] == "interrupted"
    assert not (run_dir / "timing-band.json").exists()


def test_a_run_at_host_speed_gets_no_band_and_says_why(tmp_path) -> None:
    matrix, run_dir = _model_run(tmp_path, speed="host")
    args = build_parser().parse_args(["compare", "--device-speed", "host"])
    band_run.run_band(args, matrix, run_dir, 1, None, Console(quiet=True))
    state = json.loads((run_dir / "manifest.json").read_text())["timing_band"]
    assert state["state"] == "not measured"
    assert "host speed (faster than any chip)" in state["reason"]


def test_the_estimate_counts_only_the_chip_cells_run_again(tmp_path) -> None:
    matrix, _run_dir = _model_run(tmp_path)
    line = band_run.estimate(matrix, 1)
    # nodemcu-2016's one cell at each end that differs from the model; never the Linux control
    assert line.startswith(("then the timing band: 1 cells", "then the timing band: 2 cells"))
    (tmp_path / "h").mkdir()
    host, _ = _model_run(tmp_path / "h", speed="host")
    assert band_run.estimate(host, 1).startswith("timing band: not measured (the run is at host")
