"""Flashing with a fake esptool API, upload end to end against a fake NodeMCU pty, readiness
against a closed local port, and the CLI dry-run. Wi-Fi secrets must never leak."""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_hardware_plan import HW, IFACE, V, lab_data

from closebench.commands import hardware as cmd
from closebench.errors import UserError
from closebench.hardware import flasher
from closebench.hardware.fakeboard import FakeNodeMCU
from closebench.hardware.images import materialize_image
from closebench.hardware.lab import parse_lab
from closebench.hardware.plan import build_flash_plan
from closebench.hardware.ready import wait_ready
from closebench.hardware.safety import LoadTarget, check_load_target
from closebench.hardware.secrets import Secrets, placeholder_values, wifi_secrets
from closebench.hardware.upload import upload_mpremote

SSID, PASSWORD = "LabNet-7", "Sup3rSecretPw"
ENV = {"LAB_SSID": SSID, "LAB_PASS": PASSWORD}
APP = 'wifi.sta.config("{{WIFI_SSID}}","{{WIFI_PASSWORD}}")\nip="{{DEVICE_IP}}"\n'


class FakeEsp:
    def __init__(self, chip: str, calls: list[Any]) -> None:
        self.CHIP_NAME = chip
        self.calls = calls

    def __enter__(self) -> FakeEsp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.calls.append(("close",))

    def change_baud(self, baud: int) -> None:
        self.calls.append(("change_baud", baud))


def fake_api(chip: str = "ESP8266", fail: str | None = None) -> tuple[flasher.EsptoolApi, list]:
    calls: list[Any] = []

    def rec(name: str, ret: Any = None):
        def fn(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, args[1:] if args and isinstance(args[0], FakeEsp) else args,
                          kwargs))  # fmt: skip
            if name == fail:
                raise OSError(f"{name} exploded")
            return ret() if callable(ret) else ret

        return fn

    esp = FakeEsp(chip, calls)
    api = flasher.EsptoolApi(
        detect_chip=rec("detect_chip", lambda: esp),
        run_stub=rec("run_stub", lambda: esp),
        attach_flash=rec("attach_flash"),
        erase_flash=rec("erase_flash"),
        write_flash=rec("write_flash"),
        reset_chip=rec("reset_chip"),
    )
    return api, calls


def make_plan(tmp_path: Path, port: str, tool: str = "nodemcu-uploader", **hw: Any):
    (tmp_path / "fw.bin").write_bytes(b"\xe9" + b"\0" * 4095)
    (tmp_path / "init.lua").write_text(APP)
    (tmp_path / "main.py").write_text(APP)
    files = ("init.lua",) if tool == "nodemcu-uploader" else ("main.py",)
    spec = HW("esp8266", {"path": "fw.bin"}, ({"offset": "0x0", "file": "image"},), tool, files,
              tmp_path, erase_first=True, baud=460800, **hw)  # fmt: skip
    data = lab_data()
    data["boards"][0]["port"] = port
    lab = parse_lab(data, tmp_path / "lab.toml")
    target = check_load_target(lab, lambda _: IFACE)
    plan = build_flash_plan(V("nm-init", tmp_path, spec), lab.board("esp12"), lab, target,
                            cache=tmp_path)  # fmt: skip
    return lab, target, plan


def test_flash_steps_in_order_then_upload(tmp_path: Path, monkeypatch, capsys) -> None:
    ready: list[LoadTarget] = []
    monkeypatch.setattr(flasher, "wait_ready", lambda t, b, s: ready.append(t))
    with FakeNodeMCU() as fake:
        lab, target, plan = make_plan(tmp_path, fake.port)
        secrets = wifi_secrets(lab, ENV)
        api, calls = fake_api()
        log: list[str] = []
        flasher.flash_board(plan, secrets, placeholder_values(secrets, lab, target), api,
                            log.append)  # fmt: skip
        written = fake.files["init.lua"].decode()
    names = [c[0] for c in calls]
    assert names == ["detect_chip", "run_stub", "change_baud", "attach_flash", "erase_flash",
                     "write_flash", "reset_chip", "close"]  # fmt: skip
    assert calls[0][1] == (fake.port,) and calls[0][2] == {"baud": 115200}
    assert calls[5][1] == ([(0, str(tmp_path / "fw.bin"))],)
    assert calls[5][2] == {"flash_mode": "dio", "flash_size": "4MB", "flash_freq": "40m"}
    assert written == f'wifi.sta.config("{SSID}","{PASSWORD}")\nip="192.168.50.60"\n'
    assert ready == [target]
    assert "answering at http://192.168.50.60:80/" in log[-1]
    _assert_no_secret(tmp_path, capsys, "\n".join(log))


def test_wrong_chip_refused_before_writing(tmp_path: Path) -> None:
    with FakeNodeMCU() as fake:
        *_, plan = make_plan(tmp_path, fake.port)
        api, calls = fake_api(chip="ESP32")
        with pytest.raises(UserError, match=r"board esp12: step 'chip check' failed: esptool "
                           r"detected esp32 .* say esp8266; nothing was written"):  # fmt: skip
            flasher.flash_board(plan, Secrets(SSID, PASSWORD), {}, api, lambda _: None)
    assert "write_flash" not in [c[0] for c in calls] and "erase_flash" not in [c[0] for c in calls]


def test_failing_write_is_not_success(tmp_path: Path) -> None:
    with FakeNodeMCU() as fake:
        *_, plan = make_plan(tmp_path, fake.port)
        api, calls = fake_api(fail="write_flash")
        log: list[str] = []
        expected = (
            r"board esp12: step 'write' failed: OSError: write_flash exploded "
            r"\(done: .*erase\); the board is not ready"
        )
        with pytest.raises(UserError, match=expected):
            flasher.flash_board(plan, Secrets(SSID, PASSWORD), {}, api, log.append)
    assert not any("flashed" in line for line in log)
    assert "reset_chip" not in [c[0] for c in calls]


def test_missing_port_and_image(tmp_path: Path) -> None:
    *_, plan = make_plan(tmp_path, "/dev/ttyNOPE7")
    api, calls = fake_api()
    with pytest.raises(UserError, match=r"step 'port' failed: board esp12: serial port "
                       r"/dev/ttyNOPE7 not found"):  # fmt: skip
        flasher.flash_board(plan, Secrets(SSID, PASSWORD), {}, api, lambda _: None)
    (tmp_path / "fw.bin").unlink()
    with pytest.raises(UserError, match=r"step 'image' failed: image not found: .*fw\.bin"):
        flasher.flash_board(plan, Secrets(SSID, PASSWORD), {}, api, lambda _: None)
    assert calls == []


def test_url_image_hash_mismatch_refused(tmp_path: Path) -> None:
    payload = tmp_path / "ESP8266_GENERIC.bin"
    payload.write_bytes(b"real firmware")
    good = hashlib.sha256(b"real firmware").hexdigest()
    from closebench.hardware.images import describe_image

    bad_src = describe_image({"url": payload.as_uri(), "sha256": "0" * 64}, tmp_path,
                             tmp_path / "cache", "v")  # fmt: skip
    with pytest.raises(
        UserError, match=f"image sha256 mismatch .* expected {'0' * 64}, got {good}"
    ):
        materialize_image(bad_src)
    assert not list((tmp_path / "cache" / "images").iterdir())  # nothing unverified kept
    src = describe_image({"url": payload.as_uri(), "sha256": good}, tmp_path, tmp_path / "cache",
                         "v")  # fmt: skip
    assert materialize_image(src).read_bytes() == b"real firmware"
    payload.unlink()  # second use comes from the verified cache, no download
    assert materialize_image(src).read_bytes() == b"real firmware"


def test_build_image_not_built(tmp_path: Path) -> None:
    from closebench.hardware.images import describe_image

    src = describe_image({"build": "arduino-cli compile --fqbn esp8266:esp8266:generic sketch",
                          "output": "build/sketch.ino.bin"}, tmp_path, tmp_path, "v")  # fmt: skip
    with pytest.raises(UserError, match=r"image not built: run `arduino-cli compile .*` first"):
        materialize_image(src)


def test_missing_wifi_variables(tmp_path: Path) -> None:
    lab = parse_lab(lab_data(), tmp_path / "lab.toml")
    with pytest.raises(UserError, match=r"set environment variable\(s\) LAB_SSID, LAB_PASS"):
        wifi_secrets(lab, {})
    with pytest.raises(UserError, match=r"variable\(s\) LAB_PASS \("):
        wifi_secrets(lab, {"LAB_SSID": SSID})


def test_device_never_answering_is_bounded() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the with-block ends: connection refused
    target = LoadTarget("127.0.0.1", port, "lo", "127.0.0.0/8")
    with pytest.raises(UserError, match=rf"board b1 not ready: no HTTP answer from "
                       rf"http://127\.0\.0\.1:{port}/ within 0\.5 s \(last error: "
                       r"ConnectionRefusedError"):  # fmt: skip
        wait_ready(target, "b1", timeout_s=0.5, interval_s=0.1)


def test_upload_error_does_not_leak_password(tmp_path: Path, capsys) -> None:
    with FakeNodeMCU() as fake:
        fake.reject_writes = True
        lab, target, plan = make_plan(tmp_path, fake.port)
        secrets = Secrets(SSID, PASSWORD)
        run = flasher.FlashRun(plan, lambda _: None)
        with pytest.raises(UserError) as err:
            flasher.upload_app(run, secrets, placeholder_values(secrets, lab, target))
    assert "writing init.lua failed at chunk 1/" in str(err.value)
    _assert_no_secret(tmp_path, capsys, str(err.value))


def test_mpremote_upload_temp_file_removed(tmp_path: Path, capsys) -> None:
    lab, target, plan = make_plan(tmp_path, "/dev/ttyFAKE0", tool="mpremote")
    secrets = Secrets(SSID, PASSWORD)
    seen: dict[str, Any] = {}

    def runner(argv: list[str], **kw: Any) -> subprocess.CompletedProcess:
        staged = Path(argv[argv.index("cp") + 1])
        seen.update(argv=argv, path=staged, data=staged.read_text(),
                    mode=os.stat(staged).st_mode & 0o777)  # fmt: skip
        return subprocess.CompletedProcess(argv, 1, "", f"failed near {PASSWORD}")

    from closebench.hardware.upload import filled_app

    files = filled_app(plan, placeholder_values(secrets, lab, target))
    with pytest.raises(UserError, match=r"mpremote failed \(exit 1\): failed near \*+"):
        upload_mpremote(plan, files, secrets, runner=runner, mpremote=["mpremote"])
    assert seen["argv"][:5] == ["mpremote", "connect", "/dev/ttyFAKE0", "fs", "cp"]
    assert seen["argv"][6:] == [":main.py", "+", "reset"]
    assert PASSWORD in seen["data"] and seen["mode"] == 0o600
    assert not seen["path"].exists() and not seen["path"].parent.exists()


def _assert_no_secret(tmp_path: Path, capsys, *texts: str) -> None:
    out = capsys.readouterr()
    for blob in (out.out, out.err, *texts):
        assert SSID not in blob and PASSWORD not in blob
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SSID.encode() not in data and PASSWORD.encode() not in data, path


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    cmd.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_dry_run_prints_plan_without_secrets(tmp_path: Path, monkeypatch, capsys) -> None:
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(
        Path(__file__).resolve().parents[1].joinpath("benchmarks/lab.example.toml").read_text()
    )
    monkeypatch.setattr(
        "closebench.hardware.safety.read_interface_addresses",
        lambda _: [ipaddress.IPv4Interface("192.168.50.2/24")],
    )
    monkeypatch.setenv("CLOSEBENCH_WIFI_SSID", SSID)
    monkeypatch.setenv("CLOSEBENCH_WIFI_PASSWORD", PASSWORD)
    monkeypatch.setenv("CLOSEBENCH_CACHE", str(tmp_path / "cache"))
    rc = _cli(["flash", "--variant", "nodemcu-2016", "--board", "esp12e-1", "--lab",
               str(lab_file), "--dry-run"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert "esptool --chip esp8266 --port /dev/serial/by-id/" in out
    assert "erase-flash" in out and "write-flash --flash-mode dio --flash-size detect" in out
    assert "node.restart()" in out and "http://192.168.50.60:80/" in out
    assert "SSID from $CLOSEBENCH_WIFI_SSID (set)" in out
    assert SSID not in out and PASSWORD not in out
    assert not (tmp_path / "cache").exists()  # dry-run downloads nothing


def test_cli_refuses_public_address_and_missing_lab(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CLOSEBENCH_LAB", raising=False)
    with pytest.raises(UserError, match="no lab file: pass --lab PATH or set CLOSEBENCH_LAB"):
        _cli(["flash", "--variant", "x", "--board", "y"])
