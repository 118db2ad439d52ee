"""The report: rendered end to end on a fixture run directory built from real pcaps."""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import pytest

from closebench.errors import UserError
from closebench.report.stats import StackSummary, verdict, wilson

HEADINGS = (
    "The answer",
    "Verdicts per stack",
    "Stack faults and loss recovery",
    "How connections ended",
    "Teardown duration and packets",
    "After-load activity",
    "Each stack's characteristic connection",
    "What was run",
    "Device resources",
    "Load: requests, latency, failures",
    "Capture completeness",
    "Behaviour fingerprint (probes)",
)
VARIANTS = ("linux-ref", "nodemcu", "arduino")


def _build(tmp: Path, **kwargs: object) -> Path:
    from report_fixture import build_run

    return build_run(tmp / "20251009-085319-compare", **kwargs)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from closebench.report import render_report

    run_dir = _build(tmp_path_factory.mktemp("complete"))
    lines: list[str] = []
    paths = render_report(run_dir, log=lines.append)
    assert any("report.html" in line for line in lines)
    return paths


def _outputs_text(nb_path: Path) -> str:
    nb = nbformat.read(str(nb_path), as_version=4)
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", out
            parts.append(str(out.get("text", "")))
            parts.extend(str(v) for v in (out.get("data") or {}).values())
    return "\n".join(parts)


def test_report_renders_without_code_or_errors(rendered: dict[str, Path]) -> None:
    html = rendered["html"].read_text()
    body = html.split("<body", 1)[1]  # the inline CSS names every class; look at content only
    assert rendered["notebook"].is_file()
    # No code cells: neither inputs nor prompts nor the notebook's source lines.
    # (markdown cells legitimately use jp-InputArea; code inputs would bring an editor)
    assert "jp-InputArea-editor" not in body
    assert "jp-InputPrompt" not in body
    assert "sections." not in body and "allow_incomplete = " not in body
    assert "In&nbsp;[" not in body
    # Self-contained: images inline, nothing fetched from the network.
    assert "data:image/png;base64," in html
    assert not re.search(r'<(script|link|img)[^>]*(src|href)="https?://', html)
    text = _outputs_text(rendered["notebook"])
    assert "Traceback" not in text
    assert "could not be drawn" not in html
    for heading in HEADINGS:
        assert heading in html, heading
    for name in VARIANTS:
        assert name in html, name
    # lwIP releases side by side, the failed cell, the empty cell, the probe mismatch.
    assert "lwIP releases side by side" in html
    assert "failed: device did not start" in html
    assert "nodemcu__burst__wifi-lossy__r1" in html
    assert "(expected 12)" in html


def test_summary_has_fault_table_verdicts_and_facts(rendered: dict[str, Path]) -> None:
    md = rendered["summary"].read_text()
    assert (
        "| stack | profile / link | cells | connections | stack faults | stack-fault rate [95% CI]"
        " | loss recovery" in md
    )
    assert "## Verdicts" in md
    assert "closes cleanly" in md  # the Linux control group
    assert "kernel 6.18.0-test" in md
    assert "INCOMPLETE" not in md


def test_incomplete_run_refused_then_rendered_with_banner(tmp_path: Path) -> None:
    from closebench.cli import main
    from closebench.report import render_report

    run_dir = _build(tmp_path, complete=False, probes=False)
    with pytest.raises(UserError, match="--allow-incomplete"):
        render_report(run_dir, log=lambda _s: None)
    assert main(["report", str(run_dir)]) == 2
    assert not (run_dir / "report.html").exists()

    # Partial data on top: a cell without device.csv and one without metrics.json.
    (run_dir / "nodemcu__burst__ideal__r1__lwip2.2.1" / "device.csv").unlink()
    (run_dir / "linux-ref__burst__ideal__r1" / "metrics.json").unlink()
    paths = render_report(run_dir, allow_incomplete=True, log=lambda _s: None)
    html = paths["html"].read_text()
    assert "INCOMPLETE RUN" in html
    assert "could not be drawn" not in html
    assert "no device.csv" in html
    assert "No probes/" in html
    assert "INCOMPLETE RUN" in paths["summary"].read_text()


def test_missing_manifest_is_a_user_error(tmp_path: Path) -> None:
    from closebench.report import render_report

    with pytest.raises(UserError, match=r"no manifest\.json"):
        render_report(tmp_path, log=lambda _s: None)


def test_run_of_another_schema_version_is_refused_with_the_way_out(tmp_path: Path) -> None:
    import json

    from closebench.cli import main
    from closebench.report import render_report
    from closebench.schema import RESULT_SCHEMA_VERSION

    run_dir = _build(tmp_path, probes=False)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["schema_version"] = RESULT_SCHEMA_VERSION - 1
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match=f"schema_version {RESULT_SCHEMA_VERSION - 1}.*--reanalyse"):
        render_report(run_dir, log=lambda _s: None)
    assert main(["report", str(run_dir)]) != 0
    assert not (run_dir / "report.html").exists()


def test_wilson_interval() -> None:
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson(5, 10)
    assert (lo, hi) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert all(math.isnan(v) for v in wilson(0, 0))


def test_verdict_words_follow_the_numbers() -> None:
    clean = StackSummary("ref", 200, 0, 0, 0, 0, 0, 0.0, 3.0, 0, 1)
    assert verdict(clean).startswith("closes cleanly")
    bad = StackSummary("esp", 100, 40, 25, 5, 10, 2, 12.5, 300.0, 1, 3)
    words = verdict(bad)
    assert words.startswith("stack faults in 40% of 100 connections (95% CI 31%–50%)")
    assert "resets 25% of connections" in words
    assert "2 teardown duels" in words
    assert "12.5 s after the load stops" in words
    assert "1 of 3 cells failed" in words
    assert verdict(StackSummary("x", 0, 0, 0, 0, 0, 0, math.nan, math.nan, 2, 2)).startswith(
        "no data"
    )


def test_worst_connection_shows_the_stacks_own_fault() -> None:
    import pandas as pd

    from closebench.report.tables import _characteristic

    conns = pd.DataFrame(
        {
            "conn_id": [1, 2, 3, 4, 5],
            "close_kind": ["rst_after_fin", "rst_after_fin", "rst_after_fin", "graceful", "x"],
            "faulty": [True, True, True, True, False],
            "duel": [False, False, False, False, False],
            "retx": [3, 0, 0, 9, 0],
            "teardown_pkts": [12, 2, 2, 30, 40],
            "teardown_ms": [1.0, 1.0, 1.0, 1.0, 1.0],
        }
    )
    lossless = pd.Series([False, False, True, False, False])
    pick, why = _characteristic(conns, lossless)
    # the frequent fault, not the lossy outlier with most packets; the lossless one of a tie
    assert pick["conn_id"] == 3 and pick["close_kind"] == "rst_after_fin"
    assert "rst_after_fin (3 of 4 faulty)" in why
    conns.loc[0, "duel"] = True
    assert _characteristic(conns, lossless)[0]["conn_id"] == 1  # a duel beats all
    clean = conns.assign(faulty=False)
    pick, why = _characteristic(clean, lossless)
    assert pick["conn_id"] == 5 and why.startswith("no faulty connection")


def test_syn_answered_by_a_bare_ack_is_an_old_connection_in_the_way() -> None:
    import pandas as pd

    from closebench.report.stats import syn_met_old_connection

    history = pd.Series(["ShADadFf", "SaR", "Sa", "ShR", "S", None, "DaS"])
    assert syn_met_old_connection(history).tolist() == [
        False,  # a normal connection: SYN-ACK, then ACKs
        True,  # esp-idf: SYN met the device's TIME_WAIT, client RST the ACK
        True,
        False,
        False,  # unanswered SYN
        False,
        False,  # no SYN of its own: a mid-stream capture
    ]


def test_drawn_connections_come_as_small_pcaps_tshark_reads(rendered: dict[str, Path]) -> None:
    """Each drawn connection, both vantage points, as its own pcap: tshark (the oracle) sees
    one TCP stream in it, with as many packets as connections.parquet says it had."""
    import subprocess

    import pandas as pd

    run_dir = rendered["html"].parent
    flows = sorted((run_dir / "flows").glob("*-client.pcap"))
    assert flows, "no excerpt written"
    for pcap in flows:
        cell_id, conn = pcap.name.removesuffix("-client.pcap").rsplit("-conn", 1)
        conns = pd.read_parquet(run_dir / cell_id / "connections.parquet")
        expected = int(conns.loc[conns["conn_id"] == int(conn), "pkts"].iloc[0])
        out = subprocess.run(
            ["tshark", "-r", str(pcap), "-T", "fields", "-e", "tcp.stream"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        assert set(out) == {"0"} and len(out) == expected, (pcap.name, out, expected)
        assert f"flows/{pcap.name}" in rendered["html"].read_text()


def test_bundle_renders_again_without_the_full_captures(
    rendered: dict[str, Path], tmp_path: Path
) -> None:
    import tarfile

    from closebench.report import render_report
    from closebench.report.bundle import write_bundle

    run_dir = rendered["html"].parent
    archive = write_bundle(run_dir, out=tmp_path / "run.tar.gz", log=lambda _m: None)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path / "unpacked", filter="data")
    assert not any(n.endswith("capture-client.pcap") for n in names)
    assert any(n.endswith("connections.parquet") for n in names)
    assert any("/flows/" in n and n.endswith("-device.pcap") for n in names)
    again = render_report(tmp_path / "unpacked" / run_dir.name, log=lambda _m: None)
    body = again["html"].read_text()
    assert "Traceback" not in body
    # the drawn connections come from the bundled excerpts, both vantage points
    assert body.count('alt="') >= 2 and "seen from the device" in body


def test_run_facts_name_the_cluster_hosts_and_say_when_they_are_mixed() -> None:
    from closebench.report.tables import _cluster_rows

    worker = {"hostname": "bench-a", "kernel": "6.1", "machine": "x86_64", "cpus": 2}
    manifest = {"cluster": {"spec": "tcp://s:8786"}, "workers": {"w1": worker}}
    rows = dict(_cluster_rows(manifest))
    assert rows["cluster"] == "tcp://s:8786, 1 worker(s)"
    assert not rows["cells measured on"].startswith("MIXED")
    manifest["workers"]["w2"] = {**worker, "hostname": "bench-b", "machine": "aarch64"}
    assert dict(_cluster_rows(manifest))["cells measured on"].startswith("MIXED HOSTS: bench-a")


def test_run_facts_say_where_a_boards_load_came_from() -> None:
    from closebench.report.tables import _hardware_rows

    hw = {
        "board": "esp12e-1", "chip": "esp8266", "port": "/dev/ttyUSB0",
        "device_address": "192.168.50.60", "http_port": 80, "capture_interface": "eth1",
    }  # fmt: skip
    assert _hardware_rows({}) == []
    rows = dict(_hardware_rows({"hardware": hw}))  # a run from before the load spread
    assert rows["board"] == (
        "esp12e-1 (esp8266) on /dev/ttyUSB0, device 192.168.50.60:80, captured on eth1"
    )
    assert rows["load from"] == "this host, 1 locust process(es)"
    remote = {"mode": "remote", "master_bind": "192.168.50.2:5557", "workers": 3}
    rows = dict(_hardware_rows({"hardware": {**hw, "load": remote}}))
    assert rows["load from"].startswith("3 locust worker(s) on other hosts")
    assert "192.168.50.2:5557" in rows["load from"]


def test_free_heap_figure_draws_budgets_and_marks_the_first_failure(tmp_path: Path) -> None:
    import pandas as pd

    from closebench.report import figures
    from closebench.report.data import load_run

    run_dir = _build(tmp_path)
    ids = [c.id for c in load_run(run_dir).cells]
    assert figures.free_heap(load_run(run_dir), ids) is None  # no [heap] budget anywhere
    csv_path = next(
        p for p in sorted(run_dir.glob("*/device.csv")) if pd.read_csv(p)["alloc_fail"].max() > 0
    )
    dev = pd.read_csv(csv_path)
    dev["heap_free"] = 20000 - 50 * dev.index  # falling; the fixture's alloc_fail rises late
    dev.to_csv(csv_path, index=False)
    run = load_run(run_dir)
    fig = figures.free_heap(run, ids)
    assert fig is not None
    ax = fig.axes[0]
    assert len(ax.get_legend_handles_labels()[1]) == 1  # only the cell with a budget
    first = dev.index[dev["alloc_fail"] > 0][0]
    marks = [ln for ln in ax.lines if ln.get_marker() == "x"]
    assert len(marks) == 1
    assert marks[0].get_ydata()[0] == pytest.approx(dev["heap_free"][first] / 1024)
