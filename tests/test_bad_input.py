"""Bad input through the CLI: one line on stderr, a non-zero exit, nothing left behind.

The captures are made here from good ones (scapy) and then damaged; where tshark is
installed it must agree that a file we call damaged is damaged.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import PcapNgWriter, wrpcap

from closebench import cli
from closebench.errors import UserError
from closebench.teardown import analyze_capture
from closebench.tomlfile import read_toml
from closebench.variants.lwip_options import check_options, option_kinds, releases

REPO = Path(__file__).resolve().parents[1]
RECORDS = 174
BAD_AT = 80  # index of the record whose length is damaged


def _packets() -> list:
    return [
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000 + i, dport=80, flags="S")
        for i in range(RECORDS)
    ]


def _good_pcap(folder: Path) -> Path:
    path = folder / "good.pcap"
    wrpcap(str(path), _packets())
    return path


def _record_offset(data: bytes, index: int) -> int:
    off = 24
    for _ in range(index):
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
    return off


def _with_length(folder: Path, name: str, index: int, length: int) -> tuple[Path, int]:
    data = bytearray(_good_pcap(folder).read_bytes())
    off = _record_offset(data, index)
    struct.pack_into("<I", data, off + 8, length)
    path = folder / name
    path.write_bytes(data)
    return path, off


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(rc: int, err: str, *needles: str) -> None:
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("closebench: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _tshark_says_damaged(path: Path) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed: cannot confirm the file is damaged")
    proc = subprocess.run(["tshark", "-r", str(path)], capture_output=True, text=True)
    assert proc.returncode != 0 and "damaged" in proc.stderr, proc.stderr


def _analyze(path: Path, out: Path, capsys, *extra: str) -> tuple[int, str, str]:
    return _run(["analyze", str(path), "--out", str(out), *extra], capsys)


# -- captures ---------------------------------------------------------------------------------


def test_huge_record_length_mid_file_is_damage_like_tshark(tmp_path: Path, capsys) -> None:
    path, off = _with_length(tmp_path, "ffff.pcap", BAD_AT, 0xFFFFFFFF)
    out = tmp_path / "out"
    rc, _, err = _analyze(path, out, capsys)
    _one_line_error(rc, err, str(path), f"damaged at byte {off}", "4294967295", "--allow-damaged")
    assert not out.exists() or not any(out.iterdir())
    _tshark_says_damaged(path)


def test_allow_damaged_analyses_the_records_before(tmp_path: Path, capsys) -> None:
    path, off = _with_length(tmp_path, "ffff.pcap", BAD_AT, 0xFFFFFFFF)
    result = analyze_capture(path, allow_damaged=True)
    assert result.packets == BAD_AT
    assert any(f"damaged at byte {off}" in w for w in result.warnings)
    rc, _, _ = _analyze(path, tmp_path / "out", capsys, "--allow-damaged")
    assert rc == 0 and (tmp_path / "out" / "connections.parquet").exists()


def test_record_longer_than_tsharks_maximum_inside_a_block(tmp_path: Path, capsys) -> None:
    path, off = _with_length(tmp_path, "big.pcap", BAD_AT, 300_000)
    path.write_bytes(path.read_bytes() + bytes(300_000))  # the record fits in the file
    rc, _, err = _analyze(path, tmp_path / "out", capsys)
    _one_line_error(rc, err, f"damaged at byte {off}", "300000")
    _tshark_says_damaged(path)


def test_corrupt_first_record_is_damage_not_an_empty_capture(tmp_path: Path, capsys) -> None:
    path, _ = _with_length(tmp_path, "first.pcap", 0, 0xFFFFFFFF)
    rc, _, err = _analyze(path, tmp_path / "out", capsys)
    _one_line_error(rc, err, "damaged at byte 24")
    assert "no packets" not in err
    _tshark_says_damaged(path)


def test_damaged_pcapng_block(tmp_path: Path, capsys) -> None:
    good = tmp_path / "good.pcapng"
    with PcapNgWriter(str(good)) as w:
        for pkt in _packets():
            w.write(pkt)
    data = bytearray(good.read_bytes())
    off, blocks = 0, []
    while off < len(data):
        blocks.append(off)
        off += struct.unpack_from("<I", data, off + 4)[0]
    struct.pack_into("<I", data, blocks[50] + 4, 0xFFFFFFF0)
    path = tmp_path / "bad.pcapng"
    path.write_bytes(data)
    rc, _, err = _analyze(path, tmp_path / "out", capsys)
    _one_line_error(rc, err, f"damaged at byte {blocks[50]}", "block length")
    _tshark_says_damaged(path)


def test_cut_last_record_stays_a_warning(tmp_path: Path) -> None:
    data = _good_pcap(tmp_path).read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:-20])
    result = analyze_capture(path)
    assert result.packets == RECORDS - 1 and any("truncated" in w for w in result.warnings)


def test_foreign_link_type_is_named(tmp_path: Path, capsys) -> None:
    data = bytearray(_good_pcap(tmp_path).read_bytes())
    struct.pack_into("<I", data, 20, 105)  # IEEE 802.11
    path = tmp_path / "wifi.pcap"
    path.write_bytes(data)
    rc, _, err = _analyze(path, tmp_path / "out", capsys)
    _one_line_error(rc, err, str(path), "link type 105 (IEEE802_11)")
    assert not (tmp_path / "out").exists()


def test_foreign_link_type_in_pcapng(tmp_path: Path, capsys) -> None:
    path = tmp_path / "wifi.pcapng"
    with PcapNgWriter(str(path)) as w:
        for pkt in _packets()[:5]:
            w.write(pkt)
    data = bytearray(path.read_bytes())
    shb_len = struct.unpack_from("<I", data, 4)[0]
    struct.pack_into("<H", data, shb_len + 8, 127)  # the IDB's link type: radiotap
    path.write_bytes(data)
    rc, _, err = _analyze(path, tmp_path / "out", capsys)
    _one_line_error(rc, err, "link type 127 (IEEE802_11_RADIOTAP)")


@pytest.mark.parametrize("kind", ["folder", "fifo", "devnull", "missing"])
def test_not_a_capture_file(tmp_path: Path, capsys, kind: str) -> None:
    path = {
        "folder": tmp_path,
        "fifo": tmp_path / "fifo",
        "devnull": Path("/dev/null"),
        "missing": tmp_path / "nope.pcap",
    }[kind]
    if kind == "fifo":
        os.mkfifo(path)
    rc, _, err = _analyze(path, tmp_path / "out", capsys)
    expected = {
        "folder": "is a folder",
        "fifo": "is a FIFO",
        "devnull": "device or special file",
        "missing": "no such capture file",
    }[kind]
    _one_line_error(rc, err, str(path), expected)


def test_failed_analyze_leaves_no_output(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.json").write_text("{not json")
    rc, _, err = _analyze(_good_pcap(tmp_path), out, capsys)
    _one_line_error(rc, err, "metrics.json", "not valid JSON")
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json"]
    assert (out / "metrics.json").read_text() == "{not json"


def test_load_stop_nan_is_refused(tmp_path: Path, capsys) -> None:
    for bad in ("nan", "inf", "-inf"):
        rc, _, err = _analyze(_good_pcap(tmp_path), tmp_path / "out", capsys, f"--load-stop={bad}")
        _one_line_error(rc, err, "--load-stop")
        assert not (tmp_path / "out").exists()


def test_progress_reaches_the_file_size(tmp_path: Path) -> None:
    path = _good_pcap(tmp_path)
    seen: list[tuple[int, int]] = []
    analyze_capture(path, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (path.stat().st_size, path.stat().st_size)


# -- TOML files -------------------------------------------------------------------------------


def test_read_toml_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'description = "caf\xe9"\n')
    with pytest.raises(UserError, match=r"bad\.toml: thing is not UTF-8 text .*byte offset 18"):
        read_toml(bad, "thing")
    bad.write_text("a = \n")
    with pytest.raises(UserError, match=r"bad\.toml: invalid TOML \(.*line 1"):
        read_toml(bad, "thing")
    with pytest.raises(UserError, match="thing not found"):
        read_toml(tmp_path / "none.toml", "thing")
    with pytest.raises(UserError, match="is a folder"):
        read_toml(tmp_path, "thing")


def test_non_utf8_manifest_via_variants(tmp_path: Path, monkeypatch, capsys) -> None:
    folder = tmp_path / "firmware_variants" / "bad"
    folder.mkdir(parents=True)
    (folder / "variant.toml").write_bytes(b'name = "bad\xff"\n')
    monkeypatch.setenv("CLOSEBENCH_ROOT", str(tmp_path))
    rc, _, err = _run(["variants"], capsys)
    _one_line_error(rc, err, "variant.toml", "not UTF-8", "byte offset 11")


@pytest.mark.parametrize("kind", ["load", "link"])
def test_non_utf8_profile(tmp_path: Path, capsys, kind: str) -> None:
    from closebench.bench.links import load_link_file
    from closebench.load.profiles import load_profile_file

    bad = tmp_path / f"{kind}.toml"
    bad.write_bytes(b'description = "\xff"\n')
    loader = load_profile_file if kind == "load" else load_link_file
    with pytest.raises(UserError, match="not UTF-8"):
        loader(bad)
    rc, _, err = _run(["profiles", "--check", str(bad)], capsys)
    _one_line_error(rc, err, str(bad), "not UTF-8")


def test_non_utf8_lab(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "lab.toml"
    bad.write_bytes(b"[lab]\ncapture_interface = '\xfe'\n")
    rc, _, err = _run(["flash", "--variant", "x", "--board", "y", "--lab", str(bad)], capsys)
    _one_line_error(rc, err, str(bad), "not UTF-8")


# -- lwIP options -----------------------------------------------------------------------------


def test_option_names_are_shipped_for_both_releases() -> None:
    assert set(releases()) >= {"2.1.3", "2.2.1"}
    for release in releases():
        kinds = option_kinds(release)
        assert kinds["TCP_MSS"] == "value" and kinds["LWIP_TCP"] == "flag"
        assert "TCP_TMR_INTERVAL" in kinds  # tcp_priv.h
    assert "LWIP_TCP_RTO_TIME" in option_kinds("2.2.1")
    assert "LWIP_TCP_RTO_TIME" not in option_kinds("2.1.3")


def test_check_options_refuses_unknown_names_and_bad_values() -> None:
    problems = check_options(
        "2.1.3",
        {"TCP_MLS": 1, "TCP_MSS": -1460, "TCP_WND": 70000, "LWIP_TCP_SACK_OUT": 2, "X_Y": 1},
    )
    text = "\n".join(problems)
    assert "TCP_MLS: unknown lwIP option" in text and "did you mean TCP_MSL?" in text
    assert "TCP_MSS: must be in 1..65535" in text and "got -1460" in text
    assert "TCP_WND: must be in 1..65535" in text
    assert "LWIP_TCP_SACK_OUT: must be in 0..1" in text
    assert "X_Y: unknown" in text
    assert check_options("2.1.3", {"TCP_WND": 70000, "LWIP_WND_SCALE": 1}) == []
    assert check_options("2.1.3", {"TCP_MSS": "-1460"})  # a plain literal written as text
    assert check_options("2.1.3", {"TCP_SND_BUF": "(4 * TCP_MSS)"}) == []
    assert check_options("9.9.9", {}) and "unknown" in check_options("9.9.9", {})[0]


def test_shipped_variants_pass_check_options() -> None:
    from closebench.variants.manifest import load_variants

    for variant in load_variants():
        for release in releases():
            opts = {
                o.name: o.value for o in variant.emulation.declared_options if o.applies_to(release)
            }
            if variant.kind == "lwip":
                assert check_options(release, opts) == [], (variant.name, release)


# -- profiles command -------------------------------------------------------------------------


def test_profiles_lists_and_validates(capsys) -> None:
    rc, out, _ = _run(["profiles"], capsys)
    assert rc == 0
    assert any(line.startswith("load  seed-200ms") and " ok " in line for line in out.splitlines())
    assert any(line.startswith("link  ideal") for line in out.splitlines())


def test_profiles_names_a_bad_one(tmp_path: Path, monkeypatch, capsys) -> None:
    good = REPO / "benchmarks" / "profiles" / "seed-200ms.toml"
    (tmp_path / "fine.toml").write_text(good.read_text())
    (tmp_path / "broken.toml").write_text(good.read_text().replace("users = 1", "users = -1"))
    monkeypatch.setattr("closebench.commands.profiles.profiles_dir", lambda: tmp_path)
    rc, out, _ = _run(["profiles"], capsys)
    assert rc == 1
    broken = next(line for line in out.splitlines() if "broken" in line)
    assert "BAD" in broken and "broken.toml: users" in broken
    assert " ok " in next(line for line in out.splitlines() if " fine " in line)


def test_profiles_check(tmp_path: Path, capsys) -> None:
    rc, out, _ = _run(
        ["profiles", "--check", str(REPO / "benchmarks" / "links" / "wifi-good.toml")], capsys
    )
    assert rc == 0 and "valid link profile" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('description = "x"\n[to_device]\ndelay_ms = -5\n')
    rc, _, err = _run(["profiles", "--check", str(bad)], capsys)
    _one_line_error(rc, err, str(bad), "to_device")


# -- help texts -------------------------------------------------------------------------------


def _parsers(parser: argparse.ArgumentParser, path: str):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_command_has_a_description_and_every_option_help() -> None:
    missing = []
    for path, parser in _parsers(cli.build_parser(), "closebench"):
        if not parser.description:
            missing.append(f"{path}: no description")
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._VersionAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {action.option_strings or action.dest}: no help")
    assert missing == []


def test_regress_help_shows_the_defaults_used(capsys) -> None:
    from dataclasses import fields

    from closebench.regress.compare import Thresholds

    with pytest.raises(SystemExit):
        cli.main(["regress", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    defaults = Thresholds()
    for f in fields(Thresholds):
        if f.name == "alpha":
            assert f"(default {defaults.alpha})" in text
            continue
        value = getattr(defaults, f.name)
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        assert f"{f.name}={shown}" in text


# -- flash --dry-run --------------------------------------------------------------------------


def test_flash_dry_run_with_the_example_lab_prints_every_step(monkeypatch, capsys) -> None:
    def absent(name: str) -> list[ipaddress.IPv4Interface]:
        raise UserError(f"capture interface {name!r} not found")

    monkeypatch.setattr("closebench.hardware.safety.read_interface_addresses", absent)
    monkeypatch.delenv("CLOSEBENCH_WIFI_SSID", raising=False)
    lab = REPO / "benchmarks" / "lab.example.toml"
    argv = ["flash", "--variant", "nodemcu-2016", "--board", "esp12e-1", "--lab", str(lab)]
    rc, out, err = _run([*argv, "--dry-run"], capsys)
    assert rc == 0, err
    write = next(line for line in out.splitlines() if "write-flash" in line)
    assert " 0x0 " in write and "nodemcu-98d3b46.bin" in write
    assert 'file.open("init.lua","w")' in out and "node.restart()" in out
    assert "would refuse: capture interface 'enp0s31f6' not found" in out
    assert "NOT checked" in out
    # Without --dry-run the same lab is refused at its first failing check, in one line.
    rc, _, err = _run(argv, capsys)
    _one_line_error(rc, err, "capture interface")
