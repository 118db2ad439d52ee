"""Variant manifests: all load, every option is cited, broken manifests fail on one line."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import broken_manifest

from closebench.commands import variants as variants_command
from closebench.errors import UserError
from closebench.paths import variants_dir
from closebench.variants.manifest import (
    REQUIRED_EXPECT,
    VARIANT_NAMES,
    load_variant,
    load_variant_file,
    load_variants,
    validate_lwip_options,
)

EXPECTED = {
    "nodemcu-2016", "nodemcu-3.0", "micropython-esp8266", "arduino-esp8266-2.7",
    "arduino-esp8266-3.1", "esp-idf-5.3", "micropython-esp32", "linux-reference",
}  # fmt: skip
PLACEHOLDERS = ("{{WIFI_SSID}}", "{{WIFI_PASSWORD}}", "{{DEVICE_IP}}", "{{NETMASK}}", "{{GATEWAY}}")
TIME_WAIT_S = {
    "nodemcu-2016": 120, "nodemcu-3.0": 10, "micropython-esp8266": 5,
    "arduino-esp8266-2.7": 120, "arduino-esp8266-3.1": 120, "esp-idf-5.3": 120,
    "micropython-esp32": 120, "linux-reference": 60,
}  # fmt: skip


def test_all_variants_are_discovered_and_load() -> None:
    assert set(VARIANT_NAMES) == EXPECTED
    assert list(VARIANT_NAMES) == sorted(VARIANT_NAMES)
    loaded = load_variants()
    assert [v.name for v in loaded] == list(VARIANT_NAMES)
    for variant in loaded:
        assert variant.name == variant.path.name


def test_every_option_and_behaviour_is_cited() -> None:
    for variant in load_variants():
        emu = variant.emulation
        assert set(emu.options) == set(emu.option_citations), variant.name
        for cite in [*emu.option_citations.values(), *emu.behaviour_citations.values()]:
            assert cite.repo.count("/") == 1 and cite.ref and cite.path
        assert {"close", "admission", "tw_cap", "cull_closing"} <= set(emu.behaviour_citations)
        for name, expectation in variant.expect.items():
            assert expectation.cite.path, f"{variant.name}: expect.{name}"


def test_expectations_distinguish_the_variants() -> None:
    for variant in load_variants():
        assert set(REQUIRED_EXPECT) <= set(variant.expect)
        assert variant.expect["time_wait_s"].value == TIME_WAIT_S[variant.name]
    assert load_variant("micropython-esp32").expect["max_pcbs"].value == 12
    assert load_variant("esp-idf-5.3").expect["max_pcbs"].value is None
    assert load_variant("arduino-esp8266-3.1").expect["client_fin_answer"].value == "rst"
    assert load_variant("nodemcu-2016").expect["syn_admission"].value == "active:5"
    assert load_variant("nodemcu-3.0").expect["syn_admission"].value == "established:5"
    assert load_variant("linux-reference").expect["rfc1337_ignore_rst_in_time_wait"].value is False


def test_forks_on_upstream_list_known_differences() -> None:
    for variant in load_variants():
        if variant.kind == "lwip":
            assert variant.emulation.lwip in ("2.1.3", "2.2.1")
            assert variant.emulation.known_differences, variant.name
    arduino27 = load_variant("arduino-esp8266-2.7").emulation.known_differences
    assert any("2.1.2" in d and "2.1.3" in d for d in arduino27)


def test_device_args_mapping() -> None:
    assert load_variant("nodemcu-2016").device_args() == [
        "--close", "espconn", "--admission", "active", "--admission-limit", "5",
        "--tw-cap", "0", "--cull-closing", "5", "--heap-bytes", "21064", "--app", "readme",
    ]  # fmt: skip
    args = load_variant("arduino-esp8266-3.1").device_args()
    assert args[args.index("--tw-cap") + 1] == "6"  # the glue macro keeps 6 (off by one)
    assert args[args.index("--close") + 1] == "arduino-3.1"
    assert "--backlog" not in args  # no app knobs unless the manifest sets them
    mp32 = load_variant("micropython-esp32").device_args()
    assert mp32[-4:] == ["--backlog", "1", "--read-timeout-ms", "5000"]
    with pytest.raises(UserError, match="linux-reference"):
        load_variant("linux-reference").device_args()


def test_apps_are_named_and_one_is_picked() -> None:
    v = load_variant("nodemcu-2016")
    assert [a.name for a in v.apps] == ["readme", "http11"] and v.app == "readme"
    assert "README.md lines 28-36" in v.app_record.cite  # type: ignore[union-attr]
    http11 = v.with_app("http11", label=True)
    assert http11.name == "nodemcu-2016+http11" and http11.base_name == "nodemcu-2016"
    assert http11.device_args()[-2:] == ["--app", "http11"]
    with pytest.raises(UserError, match="--app nope: nodemcu-2016 has no such app"):
        v.with_app("nope")
    assert load_variant("nodemcu-3.0").apps == ()  # no [[apps]]: the bench's page, no --app
    assert "--app" not in load_variant("nodemcu-3.0").device_args()


def test_apps_need_one_default(tmp_path: Path) -> None:
    folder = tmp_path / "nodemcu-2016"
    shutil.copytree(variants_dir() / "nodemcu-2016", folder)
    toml = folder / "variant.toml"
    toml.write_text(toml.read_text().replace("default = true\n", "", 1))
    with pytest.raises(UserError, match="exactly one app needs default = true"):
        load_variant_file(toml)


def test_with_lwip_is_the_release_axis() -> None:
    mp32 = load_variant("micropython-esp32")
    assert mp32.emulation.lwip == "2.1.3"  # esp-lwip 2.1.3-esp's base (IDF v5.2.2)
    assert "LWIP_TCP_RTO_TIME" not in mp32.emulation.options  # an option from 2.2.x on
    assert any("LWIP_TCP_RTO_TIME" in d for d in mp32.emulation.known_differences)
    on_221 = mp32.with_lwip("2.2.1")
    assert on_221.emulation.lwip == "2.2.1" and on_221.label == "micropython-esp32@lwip-2.2.1"
    assert on_221.emulation.options["LWIP_TCP_RTO_TIME"] == 1500
    assert on_221.with_lwip("2.1.3").emulation.options == mp32.emulation.options
    assert mp32.emulation.lwip == "2.1.3"  # frozen: the original is untouched
    nodemcu = load_variant("nodemcu-2016")
    assert "LWIP_TCP_RTO_TIME" not in nodemcu.emulation.options
    assert nodemcu.with_lwip("2.2.1").emulation.options["LWIP_TCP_RTO_TIME"] == 1000
    assert nodemcu.with_lwip("2.1.3") is nodemcu
    with pytest.raises(UserError, match=r"2\.0\.0"):
        nodemcu.with_lwip("2.0.0")


def test_unknown_variant_lists_the_known_ones() -> None:
    with pytest.raises(UserError, match="nodemcu-2016") as info:
        load_variant("esp-at")
    assert "esp-at" in str(info.value)


# ---- broken manifests: one defect each, on a temp copy


BROKEN = [
    ("missing field", "nodemcu-2016", 'firmware = "NodeMCU"\n', "", "firmware: missing"),
    (
        "unknown field",
        "nodemcu-3.0",
        "tw_cap = 0\n",
        "tw_cap = 0\ntw_kap = 1\n",
        "emulation.tw_kap",
    ),
    ("wrong type", "esp-idf-5.3", "tw_cap = 0\n", 'tw_cap = "0"\n', "emulation.tw_cap: must be"),
    (
        "citation-less option",
        "micropython-esp8266",
        "[emulation.options.TCP_MSS]\nvalue = 536\n",
        "[emulation.options.TCP_MSS]\nvalue = 536\n[emulation.options.TCP_MSS.x]\n",
        "emulation.options.TCP_MSS",
    ),
    (
        "unknown close mode",
        "arduino-esp8266-3.1",
        'close = "arduino-3.1"',
        'close = "graceful"',
        "close",
    ),
    ("bool as count", "nodemcu-2016", "cull_closing = 5", "cull_closing = true", "cull_closing"),
    (
        "unknown serial service",
        "nodemcu-3.0",
        'value = "concurrent"',
        'value = "parallel"',
        "expect.serial_service.value",
    ),
    (
        "bad accept-queue answer",
        "esp-idf-5.3",
        'value = "syn_dropped:6"',
        'value = "dropped"',
        "expect.accept_queue_overflow.value",
    ),
    (
        "uncited app knob",
        "micropython-esp32",
        "\nbacklog = {",
        "\n# backlog = {",
        "emulation.backlog",
    ),
    ("backlog out of range", "micropython-esp32", "backlog = 1\n", "backlog = 300\n", "backlog"),
    ("unknown admission", "nodemcu-2016", 'admission = "active"', 'admission = "all"', "admission"),
    (
        "forced option",
        "nodemcu-2016",
        "[emulation.options.SO_REUSE]",
        "[emulation.options.NO_SYS]",
        "NO_SYS",
    ),
    ("name differs", "nodemcu-3.0", 'name = "nodemcu-3.0"', 'name = "nodemcu-3"', "name"),
    ("bad lwip", "esp-idf-5.3", 'lwip = "2.1.3"', 'lwip = "2.1.2"', "emulation.lwip"),
    (
        "bad sha",
        "micropython-esp32",
        'image = { path = "ESP32_GENERIC-20250415-v1.25.0.bin" }',
        'image = { url = "https://example.invalid/x.bin", sha256 = "abc" }',
        "hardware.image.sha256",
    ),
    (
        "citation without repo or default",
        "nodemcu-3.0",
        '[citation_defaults]\nrepo = "nodemcu/nodemcu-firmware"\n',
        "[citation_defaults]\n",
        "citation_defaults.repo: missing",
    ),
    (
        "bad default repo",
        "nodemcu-2016",
        'repo = "nodemcu/nodemcu-firmware"\nref = "98d3b46',
        'repo = "nodemcu-firmware"\nref = "98d3b46',
        "citation_defaults.repo: must be 'owner/name'",
    ),
    (
        "bad expect",
        "linux-reference",
        'value = "fin"',
        'value = "ack"',
        "expect.client_fin_answer.value",
    ),
]


@pytest.mark.parametrize(
    ("defect", "name", "old", "new", "field"), BROKEN, ids=[b[0] for b in BROKEN]
)
def test_broken_manifest_names_file_and_field(
    tmp_path: Path, defect: str, name: str, old: str, new: str, field: str
) -> None:
    manifest = broken_manifest(tmp_path, name, old, new)
    with pytest.raises(UserError) as info:
        load_variant_file(manifest)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{manifest}: ")
    assert field in message


def test_option_without_citation_is_refused(tmp_path: Path) -> None:
    # Remove the cite line of one option outright.
    folder = tmp_path / "nodemcu-2016"
    shutil.copytree(variants_dir() / "nodemcu-2016", folder)
    manifest = folder / "variant.toml"
    text = manifest.read_text()
    text = re.sub(r"(\[emulation\.options\.TCP_MSL\]\nvalue = 60000\n)cite = .*\n", r"\1", text)
    manifest.write_text(text)
    with pytest.raises(UserError, match=r"emulation\.options\.TCP_MSL\.cite: missing"):
        load_variant_file(manifest)


def test_citation_defaults_fill_only_what_a_citation_leaves_out(tmp_path: Path) -> None:
    variant = load_variant_file(variants_dir() / "nodemcu-3.0" / "variant.toml")
    tw = variant.emulation.behaviour_citations["tw_cap"]
    assert (tw.repo, tw.ref) == (
        "nodemcu/nodemcu-firmware",
        "4b92eab71a3573a3f948977878514de7def76ff8",
    )
    # A citation that names its own repo and ref keeps them.
    own_cite = 'repo = "lwip-tcpip/lwip", ref = "STABLE-2_1_3_RELEASE", path = "src/core/tcp.c"'
    old_cite = 'tw_cap = { path = "app/lwip/core/tcp.c"'
    manifest = broken_manifest(tmp_path, "nodemcu-3.0", old_cite, f"tw_cap = {{ {own_cite}")
    own = load_variant_file(manifest).emulation.behaviour_citations["tw_cap"]
    assert (own.repo, own.ref, own.path) == (
        "lwip-tcpip/lwip",
        "STABLE-2_1_3_RELEASE",
        "src/core/tcp.c",
    )
    # Without the defaults, a citation without repo is a one-line error naming it.
    text = manifest.read_text()
    start = text.index("[citation_defaults]")
    manifest.write_text(text[:start] + text[text.index("[[citations]]", start) :])
    with pytest.raises(UserError, match=r"citations\[0\]\.repo: missing|citations.*repo"):
        load_variant_file(manifest)


def test_missing_app_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "nodemcu-2016"
    shutil.copytree(variants_dir() / "nodemcu-2016", folder)
    (folder / "init.lua").unlink()
    with pytest.raises(UserError, match=r"hardware\.app_files\[0\]"):
        load_variant_file(folder / "variant.toml")


# ---- apps for real boards


def test_app_files_exist_with_placeholders_not_credentials() -> None:
    for variant in load_variants():
        if variant.hardware is None:
            assert variant.kind == "linux"
            continue
        hw = variant.hardware
        assert hw.app_files and hw.chip == variant.chip
        text = "\n".join((hw.app_dir / f).read_text() for f in hw.app_files)
        for placeholder in PLACEHOLDERS:
            assert placeholder in text, f"{variant.name}: {placeholder}"
        assert "heap=" in text, variant.name
        # no literal credentials: every ssid/password string is a placeholder
        for match in re.finditer(r'(?i)(ssid|pwd|password)\W{0,6}"([^"]*)"', text):
            assert match.group(2).startswith("{{"), f"{variant.name}: {match.group(0)}"


def test_hardware_recipes() -> None:
    for variant in load_variants():
        hw = variant.hardware
        if hw is None:
            continue
        assert any(seg["file"] == "image" for seg in hw.segments)
        assert set(hw.image) in ({"path"}, {"url", "sha256"}, {"build", "output"})
        assert set(hw.upload_files) <= set(hw.app_files)
    assert load_variant("micropython-esp32").hardware.segments[0]["offset"] == "0x1000"
    assert load_variant("nodemcu-3.0").hardware.upload_tool == "nodemcu-uploader"


# ---- the listing command


def _run_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="closebench")
    variants_command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_variants_command_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # no source archives: every lwIP variant is listed with its approximation's admission rule
    monkeypatch.setenv("CLOSEBENCH_SOURCES", str(tmp_path / "none"))
    monkeypatch.setenv("CLOSEBENCH_CACHE", str(tmp_path / "cache"))
    assert _run_command(["variants"]) == 0
    out = capsys.readouterr().out
    for name in EXPECTED:
        assert name in out
    assert "established:5" in out and "linux-kernel" in out


def test_variants_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_command(["variants", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == EXPECTED
    assert rows["arduino-esp8266-2.7"]["tw_cap"] == 6
    assert rows["linux-reference"]["lwip"] is None
    assert rows["nodemcu-2016"]["known_differences"] >= 1


# ---- option names against opt.h (the build step calls this; the checker may not exist yet)


def test_option_names_exist_in_lwip() -> None:
    for variant in load_variants():
        validate_lwip_options(variant)  # fetches lwIP's source (cached) to read opt.h


def test_heap_budget_is_cited_and_passed_to_the_device(tmp_path: Path) -> None:
    """[heap] free_bytes becomes --heap-bytes in both builds; a reading needs a source."""
    nodemcu = load_variant("nodemcu-2016")
    assert nodemcu.heap is not None and nodemcu.heap.free_bytes == 21064
    assert "lua-developer-faq.md" in str(nodemcu.heap.cite)
    args = nodemcu.as_exact().device_args()
    assert args[args.index("--heap-bytes") + 1] == "21064"
    assert load_variant("micropython-esp8266").heap is None  # no published reading found
    for name in ("esp-idf-5.3", "micropython-esp32", "nodemcu-3.0"):
        heap = load_variant(name).heap
        assert heap is not None and heap.where.startswith("https://"), name
    manifest = broken_manifest(tmp_path, "nodemcu-2016", "free_bytes = 21064", "free_bytes = 9")
    with pytest.raises(UserError, match=r"heap\.free_bytes"):
        load_variant_file(manifest)
