"""The known-bug catalogue: parsing and one-line validation errors, the judging of measured
values, the table; and one fix pair run end to end on the bench, checked against tshark."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from closebench.bench import exact_source
from closebench.bench.exact.arduino_lwip2 import patch_plan
from closebench.bugs import from_run, table
from closebench.bugs.catalogue import Condition, bugs_dir, load_bug, load_catalogue
from closebench.bugs.judge import judge
from closebench.bugs.runner import run_pair
from closebench.errors import UserError
from closebench.report import bugs_section
from closebench.variants.manifest import load_variant

ENTRY = bugs_dir() / "lwip-34111-ack-in-listen-rst-seq.toml"


def test_the_shipped_catalogue_has_eight_cited_entries() -> None:
    bugs = load_catalogue()
    assert len(bugs) >= 8
    for bug in bugs:
        assert bug.report["url"].startswith("https://"), bug.id
        assert len(bug.fix["commit"]) == 40, bug.id
        assert bug.verification.startswith("Read"), bug.id
        # every stack is either measured or excluded with a reason
        assert bug.pairs or bug.pair_status, bug.id


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = ENTRY.read_text()
    assert old in text, old
    path = tmp_path / ENTRY.name
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('layer = "stack"', 'layer = "kernel"', "field layer:"),
        ('title = "RST', 'titel = "RST', "field title: missing"),
        ("b9c17dd1f0a7095c069ee414c539a134415f42b2", "b9c17dd1", "field fix.commit:"),
        ('probe = "ack_to_listen"', 'probe = "no_such_probe"', "field trigger.probe:"),
        ('behaviour = "ack_to_listen_rst"', 'behaviour = "rst"', "field trigger.behaviour:"),
        ('present = { equals = "ack+1" }', 'present = { exactly = "ack+1" }', "signature.present"),
        ('"nodemcu-3.0" = "nodemcu', 'nodemcu-3.0 = "nodemcu', "field applies.nodemcu-3:"),
        ('variant = "nodemcu-3.0"', 'variant = "nodemcu-9"', "field pairs[0].variant:"),
        ('repo = "lwip-tcpip/lwip"', 'repo = "lwip"', "field report.repo:"),
    ],
)
def test_a_bad_field_is_one_line_naming_file_and_field(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    with pytest.raises(UserError) as err:
        load_bug(_broken(tmp_path, old, new))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / ENTRY.name}: ") and field in message, message
    assert "\n" not in message


def test_an_entry_with_no_stack_must_say_why(tmp_path: Path) -> None:
    data = tomllib.loads(ENTRY.read_text())
    assert "pair_status" not in data
    text = ENTRY.read_text().split("[applies]")[0]  # no stack, no pair, no pair_status
    path = tmp_path / ENTRY.name
    path.write_text(text)
    with pytest.raises(UserError, match=r"field applies: names no variant"):
        load_bug(path)


def test_conditions_and_bounds() -> None:
    assert Condition("above", 12).holds(">= 13.0")  # a lower bound past the threshold
    assert not Condition("below", 12).holds(">= 13.0")
    assert not Condition("above", 12).holds("<= 13.0")
    assert Condition("below", 12).holds(10.2)
    assert not Condition("equals", 0).holds(False)  # a bool is not the number 0
    assert Condition("contains", "inexact:accepted").holds("oow:ignored inexact:accepted x")
    assert Condition("starts_with", "rst:").holds("rst:2")
    assert not Condition("equals", "ack").holds(None)


def test_judging_one_entry() -> None:
    bug = load_bug(ENTRY)
    row = {"probe": "ack_to_listen", "behaviour": "ack_to_listen_rst", "detail": "x"}
    assert judge(bug, "nodemcu-2016", {**row, "measured": "ack+1"}).status == "present"
    assert judge(bug, "nodemcu-3.0~4367e6e", {**row, "measured": "ack"}).status == "absent"
    odd = judge(bug, "nodemcu-3.0", {**row, "measured": "silent"})
    assert odd.status == "inconclusive" and "silent" in odd.detail
    assert judge(bug, "nodemcu-3.0", None).status == "not measured"


def test_not_applicable_cells_carry_their_reason() -> None:
    (bug,) = load_catalogue(ids=["arduino-2569-half-close-rst"])
    verdict = judge(bug, "nodemcu-3.0", None)
    assert verdict.status == "not applicable" and "net module" in verdict.detail


def test_the_table_has_a_row_per_bug_and_a_column_per_stack() -> None:
    bugs = load_catalogue()
    stacks = ["nodemcu-2016", "arduino-esp8266-3.1"]
    row = {"probe": "ack_to_listen", "behaviour": "ack_to_listen_rst", "measured": "ack+1"}
    data = {
        "bugs": [{"id": b.id} for b in bugs],
        "stacks": stacks,
        "table": {s: {b.id: judge(b, s, row).to_json() for b in bugs} for s in stacks},
    }
    text = table.stack_table(data)
    lines = text.splitlines()
    assert lines[0].split()[1:] == stacks
    first = next(line for line in lines if line.startswith("lwip-34111"))
    assert first.split()[1:] == ["PRESENT", "PRESENT"]  # what was measured, whatever the stack
    assert any("arduino-2569" in n and "not applicable" in n for n in table.footnotes(data))


# --- one fix pair end to end ----------------------------------------------------------------


def _pair_archives_missing() -> str | None:
    bug = load_bug(ENTRY)
    (pair,) = bug.pairs
    for refs in (pair.refs_before, pair.refs_after):
        for repo, commit in refs.items():
            arch = exact_source.Archive(repo, commit, ("app/lwip", "app/include"), "")
            if exact_source.find_archive(arch) is None:
                return f"source archive missing: {exact_source.missing_hint(arch)}"
    return None


def _tshark_rst_offsets(pcap: Path) -> list[int]:
    """RST seq minus the ACK number of the bare ACK that drew it, read by tshark."""
    fields = ["tcp.flags.reset", "tcp.seq_raw", "tcp.ack_raw"]
    cmd = ["tshark", "-r", str(pcap), "-Y", "tcp", "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    acks, offsets = [], []
    for line in out.splitlines():
        rst, seq, ack = line.split("\t")
        if rst in ("1", "True"):
            offsets.append((int(seq) - acks[-1]) % 2**32)
        else:
            acks.append(int(ack))
    return offsets


def test_lwip_34111_present_before_its_fix_and_absent_at_it(bench: Path) -> None:
    missing = _pair_archives_missing()
    if missing:
        pytest.skip(missing)
    if shutil.which("tshark") is None:
        pytest.skip("tshark, the oracle of this test, is not installed")
    bug = load_bug(ENTRY)
    load_variant("nodemcu-3.0")
    result = run_pair(bug, bug.pairs[0], bench, (), jobs=1, log=lambda _: None)
    assert result["before"]["status"] == "present", result
    assert result["after"]["status"] == "absent", result
    assert result["result"] == "shown"
    for side, offset in (("before", 1), ("after", 0)):
        pcaps = list(
            (bench / "pairs" / bug.id).glob(f"*{result[side]['stack']}*/*/capture-device.pcap")
        )
        assert pcaps, f"no device capture for {side}"
        assert _tshark_rst_offsets(pcaps[0]) == [offset], side


# --- the 2018 lwip2 builder forms the Arduino pair needs ------------------------------------


def _glue(tmp_path: Path, makefile: str, patches: tuple[str, ...] = ()) -> Path:
    (tmp_path / "makefiles").mkdir(parents=True)
    (tmp_path / "makefiles" / "Makefile.lwip2").write_text(makefile)
    if patches:
        (tmp_path / "patches").mkdir()
        for name in patches:
            (tmp_path / "patches" / name).write_text("")
    return tmp_path


def test_patch_plan_reads_the_2018_builder_forms(tmp_path: Path) -> None:
    named = _glue(
        tmp_path / "a",
        "all: patches $(LWIP_LIB)\n\n.patched:\n"
        "\tpatch -d .. -p1 < ../../patches/time-wait.patch\n",
        ("time-wait.patch", "unused.patch"),
    )
    where, patches = patch_plan(named)
    assert "by name" in where and [p.name for p in patches] == ["time-wait.patch"]
    none = _glue(tmp_path / "b", "all: $(LWIP_LIB)\n")
    assert patch_plan(none) == ("makefiles/Makefile.lwip2 (no patch step)", [])
    odd = _glue(tmp_path / "c", "all: $(LWIP_LIB)\n", ("x.patch",))  # patches, but no step
    with pytest.raises(UserError, match="the builder changed"):
        patch_plan(odd)


# --- a run's own verify probes: what a later ref brings back ---------------------------------


def _probe_file(run: Path, stack: str, measured: object) -> None:
    row = {"probe": "ack_to_listen", "behaviour": "ack_to_listen_rst", "measured": measured}
    (run / "probes").mkdir(parents=True, exist_ok=True)
    (run / "probes" / f"{stack}.json").write_text(json.dumps({"variant": stack, "results": [row]}))


class _Run:
    def __init__(self, run_dir: Path, dates: dict[str, str]) -> None:
        self.run_dir, self.dates = run_dir, dates

    def variant_info(self, name: str) -> dict:
        return {"release": {"date": self.dates[name]}} if name in self.dates else {}


def test_a_ref_that_brings_a_bug_back_is_named(tmp_path: Path) -> None:
    _probe_file(tmp_path, "nodemcu-3.0", "ack")
    _probe_file(tmp_path, "nodemcu-3.0~old", "ack+1")
    found = from_run.verdicts(tmp_path)
    assert set(found["nodemcu-3.0"]) == {"lwip-34111-ack-in-listen-rst-seq"}  # probes it ran
    back = from_run.pair_lines(tmp_path, "nodemcu-3.0", "nodemcu-3.0~old")
    assert len(back) == 1 and back[0].startswith("lwip-34111-ack-in-listen-rst-seq: RST")
    assert from_run.pair_lines(tmp_path, "nodemcu-3.0~old", "nodemcu-3.0") == []
    run = _Run(tmp_path, {"nodemcu-3.0~old": "2019-01-01", "nodemcu-3.0": "2018-01-01"})
    lines = bugs_section.release_lines(run, found)  # type: ignore[arg-type]
    assert lines == [f"nodemcu-3.0~old (after nodemcu-3.0): {back[0]}"]


def test_the_report_tables_from_a_bugs_file() -> None:
    bug = load_bug(ENTRY)
    cell = judge(bug, "nodemcu-2016", {"probe": bug.probe, "behaviour": bug.behaviour,
                                       "measured": "ack+1"}).to_json()  # fmt: skip
    data = {"stacks": ["nodemcu-2016"], "bugs": [{"id": bug.id}],
            "table": {"nodemcu-2016": {bug.id: cell}}}  # fmt: skip
    frame, classes = bugs_section.stack_frame(data)
    assert frame.iloc[0].tolist() == [bug.id, "present (ack+1)"]
    assert classes.iloc[0].tolist() == ["", "bad"]


def test_the_report_shows_a_runs_bugs_file_folded(tmp_path: Path) -> None:
    from report_fixture import build_run

    from closebench.report import render_report

    run_dir = build_run(tmp_path / "20251009-085319-compare")
    bug = load_bug(ENTRY)
    row = {"probe": bug.probe, "behaviour": bug.behaviour, "measured": "ack+1"}
    data = {
        "stacks": ["nodemcu-2016"],
        "bugs": [{"id": bug.id}],
        "table": {"nodemcu-2016": {bug.id: judge(bug, "nodemcu-2016", row).to_json()}},
        "pairs": [],
        "no_pair": {},
    }
    (run_dir / "bugs.json").write_text(json.dumps(data))
    html = render_report(run_dir, log=lambda _: None)["html"].read_text()
    section = html[html.index("Known close bugs") :]
    assert "<details" in html[: html.index("Known close bugs") + 2000]
    assert "present (ack+1)" in section


def test_the_catalogue_probes_on_the_linux_reference(bench: Path) -> None:
    """Linux as the oracle stack: RST seq = SEG.ACK for an ACK to a listening port (RFC 793,
    tcp_v4_send_reset) and a half-closing client's request answered before the FIN."""
    from closebench.probes.verify import run_probes

    data = run_probes(
        load_variant("linux-reference"), ["ack_to_listen", "request_with_fin"], bench,
        log=lambda _: None, jobs=2,
    )  # fmt: skip
    measured = {r["behaviour"]: r["measured"] for r in data["results"]}
    assert measured == {"ack_to_listen_rst": "ack", "request_with_fin": "reply_then_fin"}
    pcap = bench / "linux-reference" / "ack_to_listen" / "capture-device.pcap"
    if shutil.which("tshark") and pcap.is_file():
        assert _tshark_rst_offsets(pcap) == [0]
