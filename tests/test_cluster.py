"""Cells on a Dask cluster: `--cluster local:2` measures what a local run measures, names its
workers, and a worker killed mid-run fails only its own cells."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest
from conftest import bench_unavailable, leftovers
from link_drops import lost_positions

from closebench.cli import main
from closebench.errors import UserError
from closebench.pipeline import runner
from closebench.pipeline.cluster import ClusterSpec, local_cluster, parse_cluster

VARIANTS = "nodemcu-3.0,linux-reference"
CELL_FILES = ("capture-client.pcap", "capture-device.pcap", "metrics.json", "connections.parquet")


def test_cluster_specs() -> None:
    assert parse_cluster("local:2") == ClusterSpec(local_workers=2)
    assert parse_cluster("tcp://198.18.0.9:8786") == ClusterSpec(address="tcp://198.18.0.9:8786")
    assert parse_cluster("tls://sched.lab:8786").address == "tls://sched.lab:8786"
    for bad in ("local:0", "local:x", "198.18.0.9:8786", "tcp://host", "http://h:1", "local:65"):
        with pytest.raises(UserError, match="--cluster"):
            parse_cluster(bad)


def test_a_bad_cluster_spec_is_refused_before_anything_runs(tmp_path: Path, capsys) -> None:
    axes = ["--variants", "linux-reference", "--profiles", "seed-1s", "--links", "ideal"]
    code = main(["run", *axes, "--cluster", "local:none", "--results", str(tmp_path)])
    assert code == 2
    assert "local:N needs N workers" in capsys.readouterr().err
    assert main(["run", *axes, "--shared-results", "--results", str(tmp_path)]) == 2
    assert "--shared-results belongs to --cluster" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def _manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same quick matrix measured here and on a local cluster of two workers."""
    reason = bench_unavailable()
    if reason:
        pytest.skip(reason)
    out = {}
    for name, extra in (("here", []), ("cluster", ["--cluster", "local:2"])):
        results = tmp_path_factory.mktemp(name)
        code = main(["compare", "--quick", "--no-report", "--no-verify", "--variants", VARIANTS,
                     "--results", str(results), *extra])  # fmt: skip
        assert code == 0
        (out[name],) = [p for p in results.iterdir() if p.is_dir()]
        assert not leftovers(str(results)), leftovers(str(results))
    return out["here"], out["cluster"]


@pytest.mark.netns
def test_local_cluster_measures_the_same_cells_with_the_same_seeds(runs: tuple[Path, Path]) -> None:
    here, cluster = (_manifest(r) for r in runs)
    assert cluster["complete"] is True
    assert {c["id"] for c in cluster["cells"]} == {c["id"] for c in here["cells"]}
    assert {c["status"] for c in cluster["cells"]} == {"ok"}
    assert cluster["seeds"] == here["seeds"]
    for cell in cluster["cells"]:
        folder = runs[1] / cell["id"]
        for name in CELL_FILES:
            assert (folder / name).stat().st_size > 0, (cell["id"], name)
        # the worker's device really drew from the cell's seed
        spec = json.loads((folder / "cell-spec.json").read_text())
        assert spec["device"]["seed"] == cluster["seeds"][cell["id"]]


# The last frames of a cell can still be on the link when the captures stop: not a loss.
TAIL_FRAMES = 3


@pytest.mark.netns
def test_the_same_seed_drops_the_same_frame_positions_on_a_cluster_worker(
    runs: tuple[Path, Path],
) -> None:
    """Per lossy cell and direction, the positions of the frames the link lost, read from both
    captures, agree between the local run and the cluster's, over the frames both handed to
    the link; cells of other seeds lose other positions (the check can fail)."""
    here, cluster = runs
    cells = sorted(c.name for c in here.iterdir() if "__wifi-lossy__" in c.name)
    assert cells, "the quick matrix has no lossy cell"
    compared = 0
    losses: dict[str, dict[str, list[int]]] = {}
    for name in cells:
        a, b = lost_positions(here / name), lost_positions(cluster / name)
        losses[name] = {}
        for direction in ("to_device", "to_client"):
            common = min(a[direction][0], b[direction][0]) - TAIL_FRAMES
            lost_a = [k for k in a[direction][1] if k < common]
            lost_b = [k for k in b[direction][1] if k < common]
            assert lost_a == lost_b, (name, direction, lost_a, lost_b)
            compared += len(lost_a)
            losses[name][direction] = lost_a
    assert compared > 0, "no frame was lost in any lossy cell: nothing compared"
    assert len({json.dumps(v) for v in losses.values()}) > 1, "every seed lost the same frames"


@pytest.mark.netns
def test_local_cluster_names_its_two_workers(runs: tuple[Path, Path]) -> None:
    cluster = _manifest(runs[1])
    assert cluster["cluster"]["spec"] == "local:2"
    assert len(cluster["workers"]) == 2, cluster["workers"]
    assert {c["worker"] for c in cluster["cells"]} == set(cluster["workers"])
    assert all(w["hostname"] and w["cpus"] for w in cluster["workers"].values())


@pytest.mark.netns
def test_a_killed_worker_fails_its_cells_and_the_run_goes_on(tmp_path: Path) -> None:
    reason = bench_unavailable()
    if reason:
        pytest.skip(reason)
    from distributed import Client

    # reached through its tcp:// address, as a remote scheduler would be
    with local_cluster(2, 2) as cluster, Client(cluster) as client:
        matrix = runner.make_matrix(
            ["linux-reference"], ["seed-1s"], ["ideal"], 4, None, False, 20.0, 5.0
        )
        result: dict[str, Path] = {}

        def measure() -> None:
            result["run"] = runner.run_matrix(
                matrix, results=tmp_path, log=lambda _: None, verify=False,
                cluster=cluster.scheduler_address,
            )  # fmt: skip

        thread = threading.Thread(target=measure)
        thread.start()
        victim = _worker_with_a_task(client)
        os.kill(client.run(os.getpid, workers=[victim])[victim], signal.SIGKILL)
        thread.join(timeout=300)
        assert not thread.is_alive()
    manifest = _manifest(result["run"])
    assert manifest["cluster"]["cells_written_in_place"] is False  # sent back as tar
    statuses = [c["status"] for c in manifest["cells"]]
    assert len(statuses) == 4 and manifest["complete"] is True
    assert any(s.startswith("failed: worker died") for s in statuses), statuses
    assert "ok" in statuses, statuses
    assert not leftovers(str(tmp_path)), leftovers(str(tmp_path))


def _worker_with_a_task(client) -> str:
    """The address of a worker that is measuring a cell right now: its cell's sandbox (the
    cell_inside process) runs among the worker's children. The bound is only a failure."""
    pids = client.run(os.getpid)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for address, pid in pids.items():
            if _runs_a_cell(pid):
                return address
        time.sleep(0.1)
    raise AssertionError("no worker started a cell's sandbox within 300 s")


def _runs_a_cell(pid: int) -> bool:
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):  # a child may end while we look
            if "closebench.pipeline.cell_inside" in child.cmdline():
                return True
    return False


@pytest.mark.netns
def test_with_shared_results_a_remote_worker_writes_its_cells_in_place(tmp_path: Path) -> None:
    reason = bench_unavailable()
    if reason:
        pytest.skip(reason)
    with local_cluster(1, 2) as cluster:
        matrix = runner.make_matrix(
            ["linux-reference"], ["seed-1s"], ["ideal"], 2, None, False, 5.0, 2.0
        )
        run = runner.run_matrix(
            matrix, results=tmp_path, log=lambda _: None, verify=False,
            cluster=cluster.scheduler_address, shared_results=True,
        )  # fmt: skip
    manifest = _manifest(run)
    assert manifest["complete"] is True
    assert manifest["cluster"]["cells_written_in_place"] is True
    assert {c["status"] for c in manifest["cells"]} == {"ok"}
    for cell in manifest["cells"]:
        spec = json.loads((run / cell["id"] / "cell-spec.json").read_text())
        assert Path(spec["cell_dir"]) == run / cell["id"]  # measured right there, not in a temp dir
    assert not leftovers(str(tmp_path)), leftovers(str(tmp_path))
