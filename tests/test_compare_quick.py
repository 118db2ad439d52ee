"""`compare --quick` end to end on two variants: the README's main job, in small.

One run (module fixture) of nodemcu-3.0 (real lwIP) and the Linux reference x seed-1s and
seed-200ms x ideal and wifi-lossy; then what every cell folder must hold, checked from the
files themselves, and the analyzer against tshark on captures of these real stacks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from analysis_oracle import compare_with_tshark
from conftest import bench_unavailable, leftovers
from scapy.all import UDP, PcapReader

from closebench.capture.tcpdump import count_first_syns
from closebench.cli import main
from closebench.pipeline.cell_inside import MARKER
from closebench.schema import DEVICE_CSV_COLUMNS
from closebench.teardown import analyze_capture

pytestmark = pytest.mark.netns
CELL_FILES = (
    "capture-client.pcap",
    "capture-device.pcap",
    "load.csv",
    "device.csv",
    "events.json",
    "connections.parquet",
    "metrics.json",
    "requests.csv",
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = bench_unavailable()
    if reason:
        pytest.skip(reason)
    results = tmp_path_factory.mktemp("results")
    code = main(
        [
            "compare",
            "--quick",
            "--variants",
            "nodemcu-3.0,linux-reference",
            "--results",
            str(results),
        ]
    )
    assert code == 0
    (run,) = [p for p in results.iterdir() if p.is_dir()]
    assert not leftovers(str(results)), leftovers(str(results))
    return run


def cells(run: Path) -> list[Path]:
    manifest = json.loads((run / "manifest.json").read_text())
    return [run / c["id"] for c in manifest["cells"]]


def test_manifest_complete_and_every_cell_ok(run_dir: Path) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["complete"] is True
    assert len(manifest["cells"]) == 8
    assert {c["status"] for c in manifest["cells"]} == {"ok"}
    nodemcu = manifest["variants"]["nodemcu-3.0"]
    if nodemcu["exact_source"]:  # the archives are here (CLOSEBENCH_SOURCES)
        assert nodemcu["source"].startswith("exact source (nodemcu/nodemcu-firmware@4b92eab")
    else:  # Debian's lwIP 2.1.3, checked against its pinned hash
        assert nodemcu["tarball_sha256"].startswith("0a8276d0")
    assert (run_dir / "report.html").stat().st_size > 10_000
    assert "Traceback" not in (run_dir / "report.html").read_text()


def test_cell_files_complete_and_events_ordered(run_dir: Path) -> None:
    for cell in cells(run_dir):
        for name in CELL_FILES:
            assert (cell / name).exists() and (cell / name).stat().st_size > 0, (cell, name)
        ev = json.loads((cell / "events.json").read_text())["events"]
        names = ("device_start", "locust_start", "load_start", "load_stop", "locust_exit")
        order = [ev[k]["capture"] for k in (*names, "cooldown_end")]
        assert order == sorted(order), (cell.name, order)
        # the load window is the requests' own: first start, last end
        requests = pd.read_csv(cell / "requests.csv")
        assert ev["load_start"]["from"] == "requests.csv"
        assert ev["load_start"]["wall"] == requests["start_epoch_s"].min()
        last_end = (requests["start_epoch_s"] + requests["latency_ms"] / 1000).max()
        assert abs(ev["load_stop"]["wall"] - last_end) < 1e-6
        # the lwIP device (C) and the Linux reference (Python) write the schema's columns
        assert tuple(pd.read_csv(cell / "device.csv").columns) == DEVICE_CSV_COLUMNS, cell.name


def test_connections_equal_requests_and_no_capture_drops(run_dir: Path) -> None:
    for cell in cells(run_dir):
        m = json.loads((cell / "metrics.json").read_text())
        requests = m["load"]["requests"]
        assert requests > 0
        assert count_first_syns(cell / "capture-client.pcap") == requests, cell.name
        assert m["load"]["connections_match_requests"] is True
        assert m["capture"]["complete"] is True, (cell.name, m["capture"])
        assert m["capture"]["client"]["dropped_kernel"] == 0
        conns = pd.read_parquet(cell / "connections.parquet")
        assert len(conns) == m["analysis"]["connections"] >= requests


def test_capture_covers_the_cooldown(run_dir: Path) -> None:
    for cell in cells(run_dir):
        ev = json.loads((cell / "events.json").read_text())["events"]
        marks = [
            float(p.time)
            for p in PcapReader(str(cell / "capture-client.pcap"))
            if UDP in p and bytes(p[UDP].payload) == MARKER
        ]
        assert len(marks) == 1, cell.name
        assert marks[0] >= ev["locust_exit"]["capture"] + 0.9 * 12, cell.name


def test_link_losses_match_the_links_own_drop_count(run_dir: Path) -> None:
    """The two views' difference (link_lost_pkts) against the link's own counters in the device
    program: no loss on the ideal link, and never more TCP packets lost than frames dropped."""
    for cell in cells(run_dir):
        conns = pd.read_parquet(cell / "connections.parquet")
        counters = json.loads((cell / "inner.json").read_text())["device"]
        dropped = counters["link_drop_in"] + counters["link_drop_out"]
        lost = int(conns["link_lost_pkts"].sum())
        assert lost <= dropped, (cell.name, lost, dropped)
        if "__ideal__" in cell.name:
            assert dropped == 0 and lost == 0, cell.name
            assert (conns["stack_fault"] == conns["faulty"]).all(), cell.name
        recovered = conns[conns["loss_recovery"]]
        # the link's doing: packets lost, or delivered in another order than sent
        by_link = (recovered["link_lost_pkts"] > 0) | (recovered["link_reordered"] == 1)
        assert by_link.all(), (cell.name, recovered)
        assert not (conns["stack_fault"] & conns["loss_recovery"]).any(), cell.name
        if "linux-reference__" in cell.name:
            # the control's closes go wrong only through the link: near-zero stack faults
            faults = int(conns["stack_fault"].sum())
            assert faults <= max(1, 0.02 * len(conns)), (cell.name, conns[conns["stack_fault"]])


def test_analyzer_agrees_with_tshark_on_real_stacks(run_dir: Path) -> None:
    for cell in cells(run_dir):
        for name in ("capture-client.pcap", "capture-device.pcap"):
            pcap = cell / name
            problems = compare_with_tshark(pcap, analyze_capture(pcap, device_ip="198.18.0.2"))
            assert problems == [], (pcap, problems[:5])


def test_ctrl_c_leaves_run_incomplete_and_nothing_running(tmp_path: Path) -> None:
    reason = bench_unavailable()
    if reason:
        pytest.skip(reason)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "closebench.cli",
            "run",
            "--variants",
            "nodemcu-3.0",
            "--profiles",
            "seed-200ms",
            "--links",
            "ideal",
            "--run-time",
            "30",
            "--cooldown",
            "5",
            "--results",
            str(tmp_path),
            "--no-report",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    # The run's own word that the cell's 30 s load has begun (after build and verify probes,
    # however long those take): a Ctrl-C now lands in the load, not before or after it.
    assert proc.stdout is not None
    before = []
    for line in proc.stdout:
        before.append(line)
        if "load started" in line:
            break
    assert before and "load started" in before[-1], "the load never started:\n" + "".join(before)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(before) + out
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["complete"] is False and manifest.get("interrupted")
    assert (next(run.glob("*/capture-client.pcap"))).stat().st_size > 24  # flushed
    assert not leftovers(str(tmp_path)), leftovers(str(tmp_path))


def test_reanalyse_re_derives_every_cell_identically(run_dir: Path, tmp_path: Path) -> None:
    import shutil

    from closebench.errors import UserError
    from closebench.pipeline.reanalyse import reanalyse_run
    from closebench.report.data import load_run

    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    for cell in cells(copy):
        (cell / "connections.parquet").unlink()
    # An older run: the report refuses it until the re-analysis has upgraded it.
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps(manifest | {"schema_version": 1}))
    with pytest.raises(UserError, match="--reanalyse"):
        load_run(copy)
    assert reanalyse_run(copy, log=lambda _: None) == 8
    assert json.loads((copy / "manifest.json").read_text()) == manifest  # version restored
    for cell in cells(run_dir):
        again = copy / cell.name
        pd.testing.assert_frame_equal(
            pd.read_parquet(cell / "connections.parquet"),
            pd.read_parquet(again / "connections.parquet"),
        )
        before = json.loads((cell / "metrics.json").read_text())
        after = json.loads((again / "metrics.json").read_text())
        for section in ("cell", "load", "capture", "device", "analysis", "device_view"):
            assert before[section] == after[section], (cell.name, section)
