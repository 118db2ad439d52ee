"""The timing band (issue 25): the same cells at the interval's ends, verdicts that move."""

from __future__ import annotations

import json
from pathlib import Path

from closebench.pipeline import band


def _run(folder: Path, cells: dict[str, tuple[str, float, float, float, int]]) -> Path:
    """A run directory: per cell (top close kind, faulty rate, CI low, CI high, duels)."""
    folder.mkdir(parents=True)
    entries = []
    for cid, (kind, rate, lo, hi, duels) in cells.items():
        entries.append({"id": cid, "status": "ok"})
        (folder / cid).mkdir()
        other = "graceful" if kind != "graceful" else "rst_after_fin"
        metrics = {
            "analysis": {
                "close_kind": {kind: {"count": 60}, other: {"count": 40}},
                "faulty": {"rate": rate, "ci_low": lo, "ci_high": hi},
                "duels": duels,
            }
        }
        (folder / cid / "metrics.json").write_text(json.dumps(metrics))
    (folder / "manifest.json").write_text(json.dumps({"cells": entries}))
    return folder


def test_a_verdict_that_moves_inside_the_band_is_timing_sensitive(tmp_path: Path) -> None:
    steady = ("graceful", 0.10, 0.05, 0.15, 0)
    model = _run(tmp_path / "m", {"a": steady, "b": ("graceful", 0.10, 0.05, 0.15, 0)})
    slow = _run(tmp_path / "s", {"a": steady, "b": ("rst_after_fin", 0.60, 0.50, 0.70, 3)})
    doc = band.compare_band({"model": model, "model-slow": slow}, model)
    assert doc["timing_sensitive"] == ["b"]
    moves = doc["cells"]["b"]["timing_sensitive"]
    assert any("model graceful" in m and "model-slow rst_after_fin" in m for m in moves)
    assert any(m.startswith("faulty:") and "60.0 %" in m for m in moves)
    assert any(m.startswith("duels:") for m in moves)
    # the fast end was not run (its figures are the model's): the model's verdicts stand in
    assert doc["cells"]["a"]["points"]["model-fast"] == doc["cells"]["a"]["points"]["model"]
    assert json.loads((model / band.BAND_FILE).read_text()) == doc
    text = "\n".join(band.band_lines(doc))
    assert "b: TIMING-SENSITIVE" in text and "a: the same at every point" in text
