"""The apps' runtimes on the lx106: the interpreters build, run the variants' apps, and count.

Oracles: the counter against a hand-written loop (rt/icount_test.c: 1 + 2n instructions more
than an empty span); the apps' calls into the stubbed network API against what the app must do
per connection (one send of the response, one close) and the request the load sends; the same
build run twice counts the same (the emulated core is deterministic).
"""

from __future__ import annotations

import subprocess

import pytest

from closebench.bench import exact_source
from closebench.chip import app_runtime
from closebench.chip.toolchain import find_toolchain, missing_tools

CONNECTIONS = 16  # NM_CONNECTIONS / MP_CONNECTIONS, the drivers' defaults

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason=missing_tools() or "tools here")
needs_gcc_source = pytest.mark.skipif(
    app_runtime.find_gcc_source() is None, reason="gcc-12-source (GCC's lib1funcs.S) missing"
)


def _archives_missing(variant: str) -> str:
    spec = app_runtime.app_spec(variant)
    absent = [a.filename for a in spec.archives if exact_source.find_archive(a) is None]
    return f"source archive {', '.join(absent)} missing" if absent else ""


@needs_gcc_source
def test_the_instruction_counter_is_exact_on_a_hand_written_loop(tmp_path) -> None:
    tools = find_toolchain()
    make = [
        "make",
        "-s",
        "-C",
        str(app_runtime.apps_dir()),
        f"OUT={tmp_path}",
        f"CC={tools.gcc}",
        f"PICOLIBC_SPECS={tools.picolibc_specs}",
        f"GCC_XTENSA={app_runtime.gcc_xtensa_dir()}",
        "icount_test",
    ]
    subprocess.run(make, check=True, capture_output=True)
    cmd = [str(tools.qemu), *app_runtime.QEMU_ARGS, *app_runtime.QUIET]
    out = subprocess.run(
        [*cmd, "-kernel", str(tmp_path / "icount_test.elf")],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    spans = {ln.split()[1]: int(ln.split()[2]) for ln in out.splitlines() if ln.startswith("event")}
    assert spans["loop1000"] - spans["empty"] == 1 + 2 * 1000
    assert spans["loop10"] - spans["empty"] == 1 + 2 * 10


def _measured(variant: str) -> app_runtime.AppMeasurement:
    why = _archives_missing(variant)
    if why:
        pytest.skip(why)
    return app_runtime.measure_app(find_toolchain(), variant)


@pytest.fixture(scope="module")
def nodemcu() -> app_runtime.AppMeasurement:
    return _measured("nodemcu-2016")


@pytest.fixture(scope="module")
def micropython() -> app_runtime.AppMeasurement:
    return _measured("micropython-esp8266")


@needs_gcc_source
def test_nodemcu_runs_init_lua_and_answers_every_connection(nodemcu) -> None:
    assert nodemcu.calls[:3] == ["gpio.mode 4 1", "gpio.write 4 1", "wifi.setmode 1"]
    assert "net.createServer 1 30" in nodemcu.calls
    assert "os_timer_arm id=6 1000 ms mode=1" in nodemcu.calls
    sends = [c for c in nodemcu.calls if c.startswith("espconn_sent ")]
    assert len(sends) == CONNECTIONS
    # HEAD: the headers only, whose Content-Length names the page init.lua would send
    assert len(set(sends)) == 1
    assert nodemcu.calls.count("espconn_disconnect") == CONNECTIONS
    assert nodemcu.calls.count("print heap=40000") == 4
    for event in ("accept", "receive", "sent", "disconnected"):
        assert len(nodemcu.events[event]) == CONNECTIONS
        assert min(nodemcu.events[event]) > 0
    costs = nodemcu.timing_instructions()
    assert costs["send"] == 0  # net.c's send runs inside the receive callback
    assert costs["receive"] > costs["close"]


@needs_gcc_source
def test_nodemcu_3_runs_its_init_lua_on_its_own_lua() -> None:
    nodemcu3 = _measured("nodemcu-3.0")
    assert "os_timer_arm 1000 ms mode=2" in nodemcu3.calls  # heap_timer:alarm(.., ALARM_AUTO, ..)
    assert len([c for c in nodemcu3.calls if c.startswith("tcp_write ")]) == CONNECTIONS
    assert nodemcu3.calls.count("tcp_close") == CONNECTIONS
    assert nodemcu3.calls.count("print heap=40000") == 4
    for event in ("accept", "receive", "sent"):
        assert len(nodemcu3.events[event]) == CONNECTIONS


@needs_gcc_source
def test_micropython_runs_main_py_and_answers_every_connection(micropython) -> None:
    assert "bind port=80" in micropython.calls
    assert "listen 1" in micropython.calls
    writes = [c for c in micropython.calls if c.startswith("tcp_write ")]
    assert len(writes) == CONNECTIONS
    assert micropython.calls.count("tcp_close") == CONNECTIONS
    assert any(c.startswith("print heap=") for c in micropython.calls)
    for event in ("accept", "receive", "send", "close"):
        assert len(micropython.events[event]) == CONNECTIONS
    assert len(micropython.events["timer"]) == 1


@needs_gcc_source
def test_both_apps_send_the_same_headers_for_the_loads_head_request(nodemcu, micropython) -> None:
    nm = {c for c in nodemcu.calls if c.startswith("espconn_sent ")}
    mp = {c for c in micropython.calls if c.startswith("tcp_write ")}
    # each app answers HEAD with headers only: "HTTP/1.1 200 OK ... Connection: close\r\n\r\n"
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n"
        "Connection: close\r\n\r\n"
    )
    lengths = {len(head.format(n)) for n in range(100, 1000)}
    assert int(nm.pop().split()[1]) in lengths
    assert int(mp.pop().split()[1]) in lengths
    assert app_runtime.REQUEST.startswith(b"HEAD / HTTP/1.1\r\n")


@needs_gcc_source
def test_a_second_run_of_the_same_build_counts_the_same(micropython) -> None:
    tools = find_toolchain()
    spec = app_runtime.app_spec("micropython-esp8266")
    again = app_runtime.run_app(tools, spec, app_runtime.build_app(tools, spec))
    assert again.events == micropython.events


def test_microseconds_follow_the_cycles_per_instruction() -> None:
    assert app_runtime.instructions_to_us(80_000, cpi=1.0) == pytest.approx(1000.0)
    assert app_runtime.instructions_to_us(80_000, cpi=2.0, mhz=160.0) == pytest.approx(1000.0)
