"""Flash plans: exact esptool argv and upload commands per variant recipe, lab validation and
the load-target safety rule. Nothing here opens a port or the network."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from closebench.errors import UserError
from closebench.hardware.lab import load_lab, parse_lab
from closebench.hardware.plan import build_flash_plan
from closebench.hardware.safety import check_load_target

IFACE = [ipaddress.IPv4Interface("192.168.50.2/24")]


def lab_data(**device: Any) -> dict[str, Any]:
    return {
        "lab": {
            "capture_interface": "enx001",
            "wifi_ssid_env": "LAB_SSID",
            "wifi_password_env": "LAB_PASS",
        },
        "device": {
            "address": "192.168.50.60",
            "netmask": "255.255.255.0",
            "gateway": "192.168.50.1",
            **device,
        },
        "boards": [
            {
                "name": "esp12",
                "chip": "esp8266",
                "port": "/dev/ttyUSB0",
                "variants": [
                    "nodemcu-2016",
                    "nodemcu-3.0",
                    "micropython-esp8266",
                    "nm-init",
                    "arduino-esp8266-2.7",
                    "arduino-esp8266-3.1",
                ],
            },
            {
                "name": "devkit",
                "chip": "esp32",
                "port": "/dev/ttyUSB1",
                "baud": 115200,
                "variants": ["micropython-esp32", "esp-idf-5.3"],
            },
        ],
    }


@dataclass
class HW:
    chip: str
    image: dict[str, str]
    segments: tuple[dict[str, str], ...]
    upload_tool: str
    upload_files: tuple[str, ...]
    app_dir: Path
    flash_mode: str = "dio"
    flash_size: str = "4MB"
    flash_freq: str = "40m"
    baud: int = 460800
    erase_first: bool = False
    app_files: tuple[str, ...] = ()


@dataclass
class V:
    name: str
    path: Path
    hardware: HW | None = field(default=None)


def lab(tmp_path: Path) -> Any:
    return parse_lab(lab_data(), tmp_path / "lab.toml")


def plan_for(variant: Any, board: str, tmp_path: Path) -> Any:
    the_lab = lab(tmp_path)
    target = check_load_target(the_lab, lambda _: IFACE)
    return build_flash_plan(variant, the_lab.board(board), the_lab, target, cache=tmp_path)


def test_nodemcu_sdk154_recipe_with_init_data(tmp_path: Path) -> None:
    """NodeMCU flash.md: image at 0x00000, esp_init_data_default.bin at 0x3fc000 on 4 MB, dio."""
    hw = HW(
        chip="esp8266",
        image={"path": "nodemcu.bin"},
        segments=(
            {"offset": "0x00000", "file": "image"},
            {"offset": "0x3fc000", "file": "esp_init_data_default.bin"},
        ),
        upload_tool="nodemcu-uploader",
        upload_files=("init.lua",),
        app_dir=tmp_path,
        baud=115200,
    )
    plan = plan_for(V("nm-init", tmp_path, hw), "esp12", tmp_path)
    argv = plan.esptool_write_argv()
    assert argv[:8] == ["esptool", "--chip", "esp8266", "--port", "/dev/ttyUSB0", "--baud",
                        "115200", "write-flash"]  # fmt: skip
    assert argv[8:14] == ["--flash-mode", "dio", "--flash-size", "4MB", "--flash-freq", "40m"]
    assert argv[14:] == ["0x0", str(tmp_path / "nodemcu.bin"),
                         "0x3fc000", str(tmp_path / "esp_init_data_default.bin")]  # fmt: skip
    assert plan.esptool_erase_argv() is None
    assert plan.console == "nodemcu-lua"


def test_micropython_esp32_image_at_0x1000(tmp_path: Path) -> None:
    """MicroPython docs: ESP32_GENERIC image goes to 0x1000 (bootloader offset), after an erase."""
    sha = "ab" * 32
    hw = HW(
        chip="esp32",
        image={
            "url": "https://micropython.org/resources/firmware/ESP32_GENERIC-v1.28.0.bin",
            "sha256": sha,
        },
        segments=({"offset": "0x1000", "file": "image"},),
        upload_tool="mpremote",
        upload_files=("main.py",),
        app_dir=tmp_path,
        erase_first=True,
    )
    plan = plan_for(V("micropython-esp32", tmp_path, hw), "devkit", tmp_path)
    cached = tmp_path / "images" / f"{sha[:16]}-ESP32_GENERIC-v1.28.0.bin"
    assert plan.esptool_erase_argv() == [
        "esptool", "--chip", "esp32", "--port", "/dev/ttyUSB1", "--baud", "460800", "erase-flash",
    ]  # fmt: skip
    assert plan.esptool_write_argv()[-2:] == ["0x1000", str(cached)]
    assert plan.upload_commands() == [
        "mpremote connect /dev/ttyUSB1 fs cp '<main.py with placeholders filled>' :main.py + reset"
    ]


def _real_variant(name: str) -> Any:
    from closebench.variants.manifest import load_variant

    return load_variant(name)


# (variant, board, erase?, flash mode, size, freq, baud, [(offset, file name or "image")], tool)
RECIPES = [
    ("nodemcu-2016", "esp12", True, "dio", "detect", "40m", "115200",
     [("0x0", "nodemcu-98d3b46.bin")], "nodemcu-uploader"),
    ("nodemcu-3.0", "esp12", True, "dio", "detect", "40m", "115200",
     [("0x0", "nodemcu-3.0.0-release_20240225.bin")], "nodemcu-uploader"),
    ("micropython-esp8266", "esp12", True, "qio", "detect", "40m", "460800",
     [("0x0", "ESP8266_GENERIC-v1.28.0.bin")], "mpremote"),
    ("micropython-esp32", "devkit", True, "dio", "detect", "40m", "460800",
     [("0x1000", "ESP32_GENERIC-20250415-v1.25.0.bin")], "mpremote"),
    ("arduino-esp8266-2.7", "esp12", True, "dio", "detect", "40m", "115200",
     [("0x0", "WebServerLed.ino.bin")], "none"),
    ("arduino-esp8266-3.1", "esp12", True, "dio", "detect", "40m", "115200",
     [("0x0", "WebServerLed.ino.bin")], "none"),
    ("esp-idf-5.3", "devkit", True, "dio", "detect", "40m", "460800",
     [("0x1000", "bootloader.bin"), ("0x8000", "partition-table.bin"),
      ("0x10000", "closebench_idf.bin")], "none"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "board", "erase", "mode", "size", "freq", "baud", "segs", "tool"), RECIPES
)
def test_real_variant_recipes(tmp_path: Path, name, board, erase, mode, size, freq, baud, segs,
                              tool) -> None:  # fmt: skip
    variant = _real_variant(name)
    plan = plan_for(variant, board, tmp_path)
    argv = plan.esptool_write_argv()
    assert argv[argv.index("--flash-mode") + 1] == mode
    assert argv[argv.index("--flash-size") + 1] == size
    assert argv[argv.index("--flash-freq") + 1] == freq
    assert argv[argv.index("--baud") + 1] == baud
    pairs = argv[argv.index("--flash-freq") + 2 :]
    assert [(pairs[i], Path(pairs[i + 1]).name) for i in range(0, len(pairs), 2)] == segs
    assert (plan.esptool_erase_argv() is not None) == erase
    assert plan.upload_tool == tool


def test_every_real_hardware_variant_plans(tmp_path: Path) -> None:
    """Whatever manifests exist now: each hardware variant yields a plan on a matching board."""
    from closebench.variants.manifest import load_variant, load_variants

    names = [v.name for v in load_variants() if v.hardware is not None]
    data = lab_data()
    for board in data["boards"]:
        board["variants"] = names
    the_lab = parse_lab(data, tmp_path / "lab.toml")
    target = check_load_target(the_lab, lambda _: IFACE)
    for name in names:
        v = load_variant(name)
        board = next(b for b in the_lab.boards if b.chip == v.hardware.chip)
        plan = build_flash_plan(v, board, the_lab, target, cache=tmp_path)
        text = plan.render({})
        assert "write-flash" in text and target.url in text


def test_board_may_not_run_variant(tmp_path: Path) -> None:
    hw = HW("esp32", {"path": "x.bin"}, ({"offset": "0x1000", "file": "image"},), "none", (),
            tmp_path)  # fmt: skip
    with pytest.raises(UserError, match="may not run variant 'other'"):
        plan_for(V("other", tmp_path, hw), "devkit", tmp_path)
    with pytest.raises(UserError, match="is for esp32 but board 'esp12' is esp8266"):
        plan_for(V("nm-init", tmp_path, hw), "esp12", tmp_path)


def test_bad_recipe_values(tmp_path: Path) -> None:
    hw = HW("esp8266", {"path": "x.bin"}, ({"offset": "0x123", "file": "image"},), "none", (),
            tmp_path)  # fmt: skip
    with pytest.raises(UserError, match="not 4 KiB aligned"):
        plan_for(V("nm-init", tmp_path, hw), "esp12", tmp_path)
    hw.segments = ({"offset": "0x0", "file": "image"},)
    hw.flash_mode = "fast"
    with pytest.raises(UserError, match="flash_mode: 'fast' is not one of"):
        plan_for(V("nm-init", tmp_path, hw), "esp12", tmp_path)


# ---- lab file ----------------------------------------------------------------------------


def test_lab_example_parses() -> None:
    example = Path(__file__).resolve().parents[1] / "benchmarks" / "lab.example.toml"
    the_lab = load_lab(example)
    assert the_lab.boards and the_lab.wifi_ssid_env and the_lab.wifi_password_env


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["lab"].pop("capture_interface"),
            r"lab\.toml: lab\.capture_interface: missing",
        ),
        (lambda d: d["boards"][0].pop("port"), r"lab\.toml: boards\[0\]\.port: missing"),
        (lambda d: d["boards"][1].update(chip="esp32s3"), r"boards\[1\]\.chip: must be one of"),
        (lambda d: d["boards"][0].update(baud=True), r"boards\[0\]\.baud: must be an integer"),
        (lambda d: d["device"].update(colour="red"), r"device\.colour: unknown field"),
        (lambda d: d["lab"].update(wifi_password_env="my pass"), r"wifi_password_env: invalid"),
        (lambda d: d.pop("boards"), r"lab\.toml: boards: at least one"),
    ],
)
def test_lab_errors_name_file_and_field(tmp_path: Path, mutate, message) -> None:
    data = lab_data()
    mutate(data)
    with pytest.raises(UserError, match=message):
        parse_lab(data, tmp_path / "lab.toml")


def test_lab_file_missing_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="lab file not found"):
        load_lab(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[lab\n")
    with pytest.raises(UserError, match=r"bad\.toml: invalid TOML"):
        load_lab(bad)


# ---- safety ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "gateway", "message"),
    [
        ("8.8.8.8", "8.8.8.1", "not a private"),
        ("198.18.0.5", "198.18.0.1", "not a private"),  # RFC 2544 range: private-ish, not a LAN
        ("127.0.0.1", "127.0.0.2", "not a private"),
        ("10.1.2.3", "10.1.2.1", r"outside the subnet\(s\) of enx001 \(192\.168\.50\.0/24\)"),
        ("192.168.50.2", "192.168.50.1", "capture host's own address"),
        ("192.168.50.255", "192.168.50.1", "not a host address"),
        ("192.168.50.60", "192.168.51.1", "device.gateway"),
        ("fe80::1", "fe80::2", "not an IPv4 address"),
    ],
)
def test_refuses_unsafe_device_address(tmp_path: Path, address, gateway, message) -> None:
    the_lab = parse_lab(lab_data(address=address, gateway=gateway), tmp_path / "lab.toml")
    with pytest.raises(UserError, match=message):
        check_load_target(the_lab, lambda _: IFACE)


def test_link_local_and_private_accepted(tmp_path: Path) -> None:
    the_lab = parse_lab(
        lab_data(address="169.254.7.9", netmask="255.255.0.0", gateway="169.254.0.1"),
        tmp_path / "lab.toml",
    )
    target = check_load_target(the_lab, lambda _: [ipaddress.IPv4Interface("169.254.1.1/16")])
    assert target.url == "http://169.254.7.9:80/"
    assert target.capture_filter == "host 169.254.7.9 and tcp port 80"


def test_interface_without_address(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="enx001 has no IPv4 address"):
        check_load_target(lab(tmp_path), lambda _: [])
