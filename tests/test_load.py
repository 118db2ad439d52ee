"""Load profiles and the locust run: one row per request, one SYN per request, kinds kept."""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from closebench.capture.tcpdump import Tcpdump, count_first_syns
from closebench.errors import UserError
from closebench.load.locust_command import locust_command
from closebench.load.outputs import FAILURE_KINDS, finalize_load_outputs, locust_request_count
from closebench.load.profiles import PROFILE_NAMES, load_profile, load_profile_file
from closebench.load.spread import LoadSpread

GOOD = """
description = "test profile"
user_class = "SeedUser"
method = "HEAD"
paths = ["/"]
interval_s = 0.2
users = 1
spawn_rate = 1
run_time_s = 60
max_requests = 330
"""


def test_required_profiles_exist() -> None:
    wanted = {"seed-1s", "seed-200ms", "burst", "ramp", "soak", "led-toggle"}
    assert wanted <= set(PROFILE_NAMES)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_profile_loads(name: str, tmp_path: Path) -> None:
    profile = load_profile(name)
    assert profile.name == name and profile.description
    # The hard bound must not cut the default run short for a paced profile.
    argv, env = locust_command(profile, host="198.18.0.2", out_dir=tmp_path)
    assert profile.user_class == argv[-1]
    assert env["CLOSEBENCH_PROFILE"] == str(profile.path)
    assert "--host" in argv and argv[argv.index("--host") + 1] == "http://198.18.0.2:80"


def test_ramp_has_a_ceiling() -> None:
    ramp = load_profile("ramp").ramp
    assert ramp is not None and ramp.max_users <= 2000


def test_command_options(tmp_path: Path) -> None:
    profile = load_profile("seed-200ms")
    argv, env = locust_command(
        profile,
        host="http://127.0.0.1:8080",
        out_dir=tmp_path,
        run_time_s=2.5,
        spread=LoadSpread(local_workers=2),
    )
    # the locustfile ends the run at 2.5 s by the real clock; -t is a looser safety bound
    assert argv[argv.index("-t") + 1] == "18s"
    assert env["CLOSEBENCH_RUN_TIME_S"] == "2.5"
    assert argv[argv.index("--processes") + 1] == "2"
    assert argv[argv.index("--csv") + 1] == str(tmp_path / "load")
    assert "--csv-full-history" in argv and "--headless" in argv
    assert env["CLOSEBENCH_REQUESTS_CSV"] == str(tmp_path / "requests.csv")
    assert env["CLOSEBENCH_PROCESSES"] == "2"


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("interval_s = 0.2", "interval_s = -1", "interval_s"),
        ("interval_s = 0.2", "interval_s = 0", "interval_s"),
        ('user_class = "SeedUser"', 'user_class = "NoSuchUser"', "user_class"),
        ("run_time_s = 60", "run_time_s = 3601", "run_time_s"),
        ("users = 1", "users = 2001", "users"),
        ("max_requests = 330\n", "\n", "max_requests"),
        ('method = "HEAD"', 'method = "POST"', "method"),
        ('paths = ["/"]', 'paths = ["no-slash"]', "paths"),
        ('paths = ["/"]', 'paths = ["/a b"]', "paths"),
        ("users = 1", "users = 1.5", "users"),
        ("users = 1", "users = 1\ncolour = 2", "colour"),
        (
            "max_requests = 330",
            "max_requests = 330\n[ramp]\nstep_s = 5\nstep_users = 1",
            "ramp.max_users",
        ),
    ],
)
def test_bad_profile_is_one_line_error(tmp_path: Path, old: str, new: str, field: str) -> None:
    path = tmp_path / "bad.toml"
    text = GOOD.replace(old, new, 1)
    assert text != GOOD
    path.write_text(text)
    with pytest.raises(UserError) as err:
        load_profile_file(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {field}:"), message
    assert "\n" not in message


def test_unknown_profile_name() -> None:
    with pytest.raises(UserError, match="unknown load profile 'nope'"):
        load_profile("nope")


# --- real locust runs against a server on 127.0.0.1 started here ---------------------------


def _run_locust(profile: str | Path, port: int, out: Path, run_time_s: float) -> int:
    loaded = load_profile_file(profile) if isinstance(profile, Path) else load_profile(profile)
    argv, env = locust_command(loaded, host=f"127.0.0.1:{port}", out_dir=out, run_time_s=run_time_s)
    with (out / "locust.log").open("w") as log:
        proc = subprocess.run(
            argv, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, timeout=120
        )
    return proc.returncode


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


needs_tcpdump = pytest.mark.skipif(
    shutil.which("tcpdump") is None or os.geteuid() != 0,
    reason="needs root and tcpdump (apt-get install tcpdump)",
)


@needs_tcpdump
def test_locust_run_one_connection_per_request(tmp_path: Path, server_port: int) -> None:
    pcap = tmp_path / "capture-client.pcap"
    with Tcpdump("lo", pcap, bpf_filter=f"tcp port {server_port}") as dump:
        code = _run_locust("seed-200ms", server_port, tmp_path, run_time_s=3)
    assert code == 0, (tmp_path / "locust.log").read_text()[-2000:]
    load = finalize_load_outputs(tmp_path)
    rows = _rows(tmp_path / "requests.csv")

    assert 8 <= load["requests"] <= 20  # 3 s at one request per 0.2 s
    assert len(rows) == load["requests"] == locust_request_count(tmp_path)
    assert load["ok"] == load["requests"] and load["failed"] == 0
    assert set(load["failures"]) == set(FAILURE_KINDS)
    assert load["latency_ms_p50"] is not None and load["rps"] is not None
    # One new connection per request: a distinct client port per row, one SYN per request.
    assert len({row["local_port"] for row in rows}) == len(rows)
    assert dump.stats is not None and dump.stats["dropped_kernel"] == 0
    assert count_first_syns(pcap, server_port) == load["requests"]
    for name in ("load.csv", "load_stats_history.csv", "load_failures.csv"):
        assert (tmp_path / name).exists()
    assert not list(tmp_path.glob("requests.csv.part-*"))


def test_refused_connections_counted_by_kind(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on: the kernel answers RST
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    code = _run_locust("seed-200ms", closed_port, tmp_path, run_time_s=2)
    load = finalize_load_outputs(tmp_path)
    assert code == 1  # nothing succeeded: the run says so in its exit code
    assert load["requests"] > 0 and load["ok"] == 0
    # at most the one request cut off by the run-time limit is "interrupted", not refused
    assert load["failures"]["interrupted"] <= 1
    assert load["failures"]["refused"] + load["failures"]["interrupted"] == load["requests"]
    assert load["requests"] == load["failed"]
    assert load["latency_ms_p50"] is None
    failures = _rows(tmp_path / "load_failures.csv")
    assert [row["Error"] for row in failures] == ["refused"]
    assert int(failures[0]["Occurrences"]) == load["requests"]
    assert {row["error_kind"] for row in _rows(tmp_path / "requests.csv")} == {"refused"}


def test_max_requests_stops_the_run(tmp_path: Path, server_port: int) -> None:
    profile = tmp_path / "bounded.toml"
    profile.write_text(
        GOOD.replace("users = 1", "users = 3").replace("max_requests = 330", "max_requests = 7")
    )
    out = tmp_path / "out"
    out.mkdir()
    code = _run_locust(profile, server_port, out, run_time_s=30)
    load = finalize_load_outputs(out)
    assert code == 0
    assert load["requests"] == 7 == locust_request_count(out)
    # Stopped by the bound, not by the 30 s run time.
    rows = _rows(out / "requests.csv")
    assert float(rows[-1]["start_epoch_s"]) - float(rows[0]["start_epoch_s"]) < 10


def test_ramp_shape_stops_at_its_ceiling(tmp_path: Path, server_port: int) -> None:
    profile = tmp_path / "miniramp.toml"
    profile.write_text(GOOD + "\n[ramp]\nstep_s = 1\nstep_users = 1\nmax_users = 2\n")
    out = tmp_path / "out"
    out.mkdir()
    code = _run_locust(profile, server_port, out, run_time_s=30)
    load = finalize_load_outputs(out)
    log = (out / "locust.log").read_text()
    assert code == 0, log[-2000:]
    assert "Shape test" in log or "shape" in log.lower()
    # 1 user for a step, 2 users for a step (the ceiling), then stop: ~2-3 s at 5 req/s/user.
    assert 5 <= load["requests"] <= 40


def testconnect_errors_are_classified_by_what_reached_the_wire() -> None:
    import errno

    from closebench.load.client import connect_error

    assert connect_error(TimeoutError()).kind == "connect_timeout"
    assert connect_error(ConnectionRefusedError()).kind == "refused"
    # ARP for the device unanswered: the SYN never left, so no connection to count
    assert connect_error(OSError(errno.EHOSTUNREACH, "No route to host")).kind == "unreachable"
