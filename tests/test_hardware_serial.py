"""Serial code against pseudo-terminals that answer like the real consoles (no real port)."""

from __future__ import annotations

import csv
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import serial

from closebench.errors import UserError
from closebench.hardware.consoles import ConsoleError, LuaPrompt, RawRepl
from closebench.hardware.fakeboard import FakeArduino, FakeMicroPython, FakeNodeMCU
from closebench.hardware.plan import UploadFile
from closebench.hardware.poller import SerialPoller
from closebench.hardware.serialport import check_port, open_console
from closebench.hardware.upload import lua_chunks, upload_nodemcu
from closebench.schema import HARDWARE_DEVICE_CSV_COLUMNS as DEVICE_CSV_COLUMNS


def _open(port: str) -> serial.Serial:
    return open_console(port, 115200, "testboard")


def _until(done: Callable[[], bool], failure: str, bound_s: float = 60) -> None:
    """Until the fake board's state says it is done (it changes as the board handles the
    bytes); the bound only turns a board that never gets there into a failure."""
    end = time.monotonic() + bound_s
    while not done():
        assert time.monotonic() < end, failure
        time.sleep(0.01)


def test_lua_prompt_heap_against_fake_nodemcu() -> None:
    noise = b"\x00\xff garbage\r\nNodeMCU 1.5.4.1 build\r\n"
    with FakeNodeMCU(boot_noise=noise) as fake, _open(fake.port) as ser:
        lua = LuaPrompt(ser)
        lua.sync(timeout=5)
        assert lua.heap() == 31234
        with pytest.raises(ConsoleError, match="Lua error: stdin:1:"):
            lua.run("this is not lua")


def test_nodemcu_upload_writes_exact_bytes_and_restarts() -> None:
    secret = 'p"a\\ss wörd'
    app = f'wifi.sta.config("net", "{secret}")\nprint("ok")\n'.encode() + bytes(range(1, 40))
    with FakeNodeMCU() as fake, _open(fake.port) as ser:
        upload_nodemcu(LuaPrompt(ser), [(UploadFile(Path("init.lua"), "init.lua"), app)], 5)
        _until(lambda: fake.restarted, "the board never got node.restart()")  # the last command
        assert fake.files["init.lua"] == app
        # Each line fits NodeMCU's input buffer.
        assert max(len(c) for c in fake.commands) < 128


def test_lua_chunks_round_trip() -> None:
    data = bytes(range(256)) * 3
    chunks = lua_chunks(data, limit=50)
    assert all(len(c) <= 50 for c in chunks)
    import re

    decoded = b"".join(
        re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1))), c).encode("latin-1") for c in chunks
    )
    assert decoded == data


def test_raw_repl_heap_against_fake_micropython() -> None:
    with FakeMicroPython() as fake, _open(fake.port) as ser:
        repl = RawRepl(ser)
        repl.wait_friendly(5)
        repl.enter()
        assert repl.heap() == 31234
        with pytest.raises(ConsoleError, match="NameError"):
            repl.exec("undefined_name")
        assert repl.heap() == 31234  # still in sync after an error
        repl.exit()
        _until(lambda: not fake.raw, "the board stayed in the raw REPL")
        # Never a soft reset or an interrupt: either would stop the app under test.
        assert b"\x03" not in fake.received and b"\x01\x04" not in fake.received


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == DEVICE_CSV_COLUMNS
        return list(reader)


@pytest.mark.parametrize(
    ("fake_cls", "style"),
    [(FakeNodeMCU, "nodemcu-lua"), (FakeMicroPython, "micropython"), (FakeArduino, "heap-lines")],
)
def test_poller_writes_device_csv(tmp_path: Path, fake_cls, style) -> None:
    out = tmp_path / "cell" / "device.csv"
    with fake_cls() as fake, _open(fake.port) as ser:
        poller = SerialPoller(ser, style, out, interval_s=0.05).start()
        _until(lambda: poller.rows >= 3, "the poller wrote fewer than 3 rows")
        poller.stop()
        assert not poller._thread.is_alive()
        assert poller.error is None
    rows = _rows(out)
    assert len(rows) >= 3
    for row in rows:
        assert int(row["heap_free"]) <= 31234 and row["reason"] == "tick"
        assert float(row["epoch_s"]) > 1e9 and int(row["t_ms"]) >= 0
        assert all(row[c] == "" for c in DEVICE_CSV_COLUMNS if c not in
                   ("epoch_s", "t_ms", "reason", "heap_free"))  # fmt: skip
    t = [int(r["t_ms"]) for r in rows]
    assert t == sorted(t)


def test_poller_records_error_when_repl_blocked(tmp_path: Path) -> None:
    # An Arduino-style line printer never shows a raw REPL banner.
    with FakeArduino(period=1) as fake, _open(fake.port) as ser:
        poller = SerialPoller(ser, "micropython", tmp_path / "d.csv").start()
        poller._thread.join(10)
        assert poller.error and "no raw REPL banner" in poller.error


def test_missing_port() -> None:
    with pytest.raises(UserError, match=r"board b1: serial port /dev/ttyNOPE9 not found"):
        check_port("/dev/ttyNOPE9", "b1")


def test_busy_port() -> None:
    with FakeNodeMCU() as fake:
        fd = os.open(fake.port, os.O_RDWR | os.O_NOCTTY)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # someone else holds the board
        try:
            with pytest.raises(UserError, match=rf"serial port {fake.port} is busy"):
                check_port(fake.port, "b1")
            with pytest.raises(UserError, match="is busy"):
                open_console(fake.port, 115200, "b1")
        finally:
            os.close(fd)
        check_port(fake.port, "b1")  # free again
