"""Regress on real runs: a deliberate change to one stack is flagged, an unchanged one is not.

Two real runs of the same small matrix (nodemcu-2016 and the Linux reference, the seed's 0.2 s
profile, ideal link) on the emulated bench: the first is stored as a baseline, then
nodemcu-2016's espconn culling is switched off in a copy of its manifest (cull_closing = 0)
and the matrix is measured again. Without culling no closing PCB is freed early: the
RST-after-FIN closes the culling caused go away (measured 48 % -> 0 %, "improved"), but every
PCB now sits out its TIME_WAIT, and the device's peak PCBs grow from the culling's ~6 to one
per connection of the last two minutes (measured 6 -> 118): on a chip with a few KB of RAM
that is the regression. `regress` must flag exactly that for nodemcu-2016 and nothing for
the untouched Linux reference. Approximation builds, so that the test runs without the
firmware source archives.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import bench_unavailable, leftovers

from closebench.paths import repo_root
from closebench.pipeline import runner
from closebench.regress.baseline import load_baseline, save_baseline
from closebench.regress.compare import Thresholds, compare_to_baseline

pytestmark = [pytest.mark.netns, pytest.mark.slow]
CHANGED, UNCHANGED = "nodemcu-2016", "linux-reference"
RUN_TIME_S, COOLDOWN_S = 25.0, 30.0


def _measure(results: Path) -> Path:
    matrix = runner.make_matrix(
        [CHANGED, UNCHANGED], ["seed-200ms"], ["ideal"], 1, None, False,
        RUN_TIME_S, COOLDOWN_S, source_mode="approximation", device_speed="host",
    )  # fmt: skip
    # No verify probes: the changed manifest contradicts its own [expect] on purpose.
    return runner.run_matrix(
        matrix, kind="regress-test", results=results, log=lambda _: None, verify=False
    )


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the data folders, so the test can edit a manifest."""
    reason = bench_unavailable()
    if reason:
        pytest.skip(reason)
    root = tmp_path / "root"
    for folder in ("firmware_variants", "benchmarks", "analysis"):
        shutil.copytree(repo_root() / folder, root / folder)
    monkeypatch.setenv("CLOSEBENCH_ROOT", str(root))
    monkeypatch.setenv("CLOSEBENCH_RESULTS", str(tmp_path / "results"))
    return root


def test_regress_flags_culling_switched_off_and_not_the_untouched_stack(
    data_root: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    save_baseline(_measure(results), "before")

    manifest = data_root / "firmware_variants" / CHANGED / "variant.toml"
    text = manifest.read_text()
    assert "\ncull_closing = 5\n" in text
    manifest.write_text(text.replace("\ncull_closing = 5\n", "\ncull_closing = 0\n", 1))
    after = _measure(results)
    assert not leftovers(str(tmp_path)), leftovers(str(tmp_path))

    comp = compare_to_baseline(load_baseline("before"), after, Thresholds())
    rows = {(r.variant, r.metric): r for r in comp.rows}
    table = [(r.variant, r.metric, r.base, r.now, r.verdict) for r in comp.rows]
    assert rows[(CHANGED, "device peak PCBs")].verdict == "regressed", table
    assert rows[(CHANGED, "stack fault rate")].verdict == "improved", table
    assert not [r for r in comp.regressed if r.variant == UNCHANGED], table
    assert comp.exit_code == 1
    assert any(f"variant {CHANGED} changed" in note for note in comp.notes)
