"""Load from many locust processes or hosts (issue 19, part 2): the spread's options, and real
distributed runs against a real lwIP device on the bench, checked against its capture with
tshark: every request a worker made is one connection on the wire and one row in the cell's
requests.csv, the profile's request bound holds across workers, and a worker asked to aim
anywhere but its device sends nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from analysis_oracle import tshark_available
from benchutil import DEVICE, up

from closebench.cli import main
from closebench.errors import UserError
from closebench.hardware.safety import check_worker_device
from closebench.load.locust_command import locust_command, locust_worker_command
from closebench.load.outputs import finalize_load_outputs
from closebench.load.profiles import LoadProfile, load_profile, load_profile_file
from closebench.load.spread import LoadSpread, load_failure, load_spread

BURST = """description = "test: 2 x 4 users, a request each 50 ms, at most 120 requests"
user_class = "SeedUser"
method = "HEAD"
paths = ["/"]
interval_s = 0.05
users = 8
spawn_rate = 8
run_time_s = 8
max_requests = 120
"""


# The run time of a run that its request budget ends (120 requests, well under a second on an
# idle host): only a bound, so that a loaded host, slow to start locust, still makes them all.
BOUND_S = 60

RAMP = """description = "test: 2, 4, 6 users over 2 s steps, a request each 50 ms"
user_class = "SeedUser"
method = "HEAD"
paths = ["/"]
interval_s = 0.05
users = 2
spawn_rate = 10
run_time_s = 30
max_requests = 100000

[ramp]
step_s = 2
step_users = 2
max_users = 6
"""


def test_spread_options_and_their_refusals() -> None:
    assert load_spread(local_workers=None, master_bind=None, expect_workers=None) == LoadSpread()
    remote = load_spread(local_workers=None, master_bind="192.168.50.2:5557", expect_workers=3)
    assert remote.master_bind == ("192.168.50.2", 5557) and remote.workers == 3
    for kwargs, says in (
        ({"local_workers": 0, "master_bind": None, "expect_workers": None}, "--locust-workers"),
        ({"local_workers": None, "master_bind": None, "expect_workers": 2}, "needs"),
        ({"local_workers": None, "master_bind": "h:1", "expect_workers": None}, "expect"),
        ({"local_workers": 2, "master_bind": "h:1", "expect_workers": 1}, "one or the other"),
        ({"local_workers": None, "master_bind": "h:99999", "expect_workers": 1}, "HOST:PORT"),
        ({"local_workers": None, "master_bind": "0.0.0.0:5557", "expect_workers": 1}, "every"),
    ):
        with pytest.raises(UserError, match=says):
            load_spread(**kwargs)


def test_master_command_shares_the_request_bound_over_the_remote_workers(tmp_path: Path) -> None:
    spread = load_spread(local_workers=None, master_bind="198.18.0.1:5557", expect_workers=3)
    argv, env = locust_command(load_profile("burst"), host=DEVICE, out_dir=tmp_path, spread=spread)
    joined = " ".join(argv)
    assert "--master --master-bind-host 198.18.0.1 --master-bind-port 5557" in joined
    assert "--expect-workers 3" in joined and "--processes" not in joined
    assert env["CLOSEBENCH_PROCESSES"] == "3"


@pytest.mark.parametrize("address", ["8.8.8.8", "127.0.0.1", "100.64.0.1", "not-an-ip"])
def test_a_load_worker_loads_only_a_lab_address(address: str) -> None:
    with pytest.raises(UserError, match="--device"):
        check_worker_device(address)
    assert check_worker_device("192.168.50.60") == "192.168.50.60"
    assert check_worker_device(DEVICE) == DEVICE


def test_the_emulated_backend_refuses_the_spread_options(capsys) -> None:
    argv = ["run", "--profiles", "burst", "--links", "ideal", "--locust-workers", "2"]
    assert main(argv) == 2
    assert "belong to --backend hardware" in capsys.readouterr().err


# --- real distributed runs on the bench ------------------------------------------------------


def _first_syns(pcap: Path) -> pd.DataFrame:
    """tshark: each connection's first SYN towards the device's port 80."""
    if not tshark_available():
        pytest.skip("tshark is not installed (run through ./dev)")
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-Y",
         "tcp.dstport == 80 && tcp.flags.syn == 1 && tcp.flags.ack == 0 "
         "&& !tcp.analysis.retransmission",
         "-T", "fields", "-e", "tcp.srcport"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return pd.DataFrame({"port": [int(p) for p in out]})


def _profile(tmp_path: Path, text: str = BURST) -> LoadProfile:
    path = tmp_path / "test-profile.toml"
    path.write_text(text)
    return load_profile_file(path)


def _run(box, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*box.enter_cmd(), *argv],
        env={**os.environ, **env},
        cwd=cwd,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _workers(box, device: str, cwd: Path, count: int) -> list[subprocess.Popen]:
    argv = [sys.executable, "-m", "closebench", "load-worker", "--master", "127.0.0.1:5557",
            "--device", device]  # fmt: skip
    return [_run(box, argv, {}, cwd, cwd / f"worker-{i}.log") for i in range(count)]


def _two_remote_workers() -> LoadSpread:
    return load_spread(local_workers=None, master_bind="127.0.0.1:5557", expect_workers=2)


def _distributed_cell(bench: Path, worker_device: str) -> tuple[int, list[int], Path]:
    """A master bound on the client namespace's loopback and two `closebench load-worker`
    processes joining it, against an lwIP 2.1.3 device; returns exit codes and the cell."""
    cell = bench / "cell"
    box = up(cell, duration_s=90)
    procs: list[subprocess.Popen] = []
    try:
        spread = _two_remote_workers()
        argv, env = locust_command(
            _profile(bench), host=DEVICE, out_dir=cell, run_time_s=BOUND_S, spread=spread
        )
        procs.append(_run(box, argv, env, cell, cell / "locust.log"))
        procs += _workers(box, worker_device, bench, 2)
        codes = [p.wait(120) for p in procs]
    finally:
        _end(procs)
        box.stop()
    return codes[0], codes[1:], cell


# What the locust master logs once the spawn is over on the workers: "All users spawned", or,
# when a worker's report is late (a loaded host), "Spawning is complete and report waittime
# is expired, ..." (locust/runners.py, MasterRunner.start)
SPAWNED = ("All users spawned", "Spawning is complete")


def _until_spawned(log: Path, master: subprocess.Popen, bound_s: float = 120) -> None:
    """Until the locust master says the workers run their users; the bound only turns a
    master that never gets there into a failure."""
    end = time.monotonic() + bound_s
    while not (log.exists() and any(s in log.read_text(errors="replace") for s in SPAWNED)):
        assert master.poll() is None, f"locust ended before its spawn: {log.read_text()[-3000:]}"
        assert time.monotonic() < end, f"no spawn within {bound_s:.0f} s: see {log}"
        time.sleep(0.05)


def _end(procs: list[subprocess.Popen]) -> None:
    """A failed test leaves no locust process behind."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_remote_workers_send_every_request_row_to_the_capture_host(bench: Path) -> None:
    code, codes, cell = _distributed_cell(bench, DEVICE)
    assert (code, codes) == (0, [0, 0]), (cell / "locust.log").read_text()[-2000:]
    section = finalize_load_outputs(cell)
    workers = section["workers"]
    assert len(workers) == 2 and all(w["done"] for w in workers.values())
    # the profile's bound of 120 requests, shared: 60 each (the budget ended the run)
    assert sorted(w["requests"] for w in workers.values()) == [60, 60]
    assert all(w["requests_sent"] == w["requests"] for w in workers.values())
    rows = pd.read_csv(cell / "requests.csv")
    syns = _first_syns(cell / "capture-device.pcap")
    assert section["requests"] == len(rows) == len(syns) == 120
    assert sorted(rows["local_port"].astype(int)) == sorted(syns["port"])
    assert load_failure(_two_remote_workers(), cell) is None


def test_a_worker_aimed_at_another_address_sends_nothing(bench: Path) -> None:
    code, codes, cell = _distributed_cell(bench, "198.18.0.3")
    assert code == 2 and codes == [0, 0]
    assert len(_first_syns(cell / "capture-device.pcap")) == 0  # not one SYN on the wire
    workers = json.loads((cell / "load-workers.json").read_text())
    assert all("may load only 198.18.0.3" in w["refused"] for w in workers.values())
    reason = load_failure(_two_remote_workers(), cell)
    assert reason is not None and "refused" in reason


def _local_processes(
    bench: Path, profile: LoadProfile, run_time_s: float, link_args: list[str] | None = None
) -> Path:
    """locust's own --processes 2 against an lwIP 2.1.3 device; returns the cell."""
    cell = bench / "cell"
    box = up(cell, duration_s=90, link_args=link_args)
    procs: list[subprocess.Popen] = []
    try:
        argv, env = locust_command(
            profile,
            host=DEVICE,
            out_dir=cell,
            run_time_s=run_time_s,
            spread=LoadSpread(local_workers=2),
        )
        procs.append(_run(box, argv, env, cell, cell / "locust.log"))
        code = procs[0].wait(120)
    finally:
        _end(procs)
        box.stop()
    # locust exits 1 when any request failed (a SYN unanswered on the slow link is a failure)
    assert code in (0, 1), (cell / "locust.log").read_text()[-2000:]
    return cell


def test_a_load_worker_that_dies_fails_the_cell_by_name(bench: Path) -> None:
    """One of two workers is killed mid-load: the master still ends, and says which worker's
    rows are missing, which a hardware cell turns into its failure."""
    cell = bench / "cell"
    box = up(cell, duration_s=90)
    procs: list[subprocess.Popen] = []
    try:
        spread = _two_remote_workers()
        burst = _profile(bench, BURST.replace("max_requests = 120", "max_requests = 100000"))
        argv, env = locust_command(burst, host=DEVICE, out_dir=cell, run_time_s=8, spread=spread)
        procs.append(_run(box, argv, env, cell, cell / "locust.log"))
        worker = locust_worker_command(("127.0.0.1", 5557))
        procs += [_run(box, worker, {}, bench, bench / f"worker-{i}.log") for i in range(2)]
        _until_spawned(cell / "locust.log", procs[0])  # both workers are loading
        procs[2].kill()
        code = procs[0].wait(120)
    finally:
        _end(procs)
        box.stop()
    assert code in (0, 1)
    reason = load_failure(_two_remote_workers(), cell)
    assert reason is not None and "sent no last rows" in reason, reason
    workers = finalize_load_outputs(cell)["workers"]
    assert sorted(w["done"] for w in workers.values()) == [False, True]


def test_local_worker_processes_send_their_rows_to_the_master(bench: Path) -> None:
    cell = _local_processes(bench, _profile(bench), BOUND_S)
    section = finalize_load_outputs(cell)
    assert section["failed"] == 0
    assert sorted(w["requests"] for w in section["workers"].values()) == [60, 60]
    syns = _first_syns(cell / "capture-device.pcap")
    assert section["requests"] == len(syns) == 120


# 800 ms each way: a request takes over 3 s, longer than a ramp's grace after its last step
SLOW_LINK = ["--link-in", "delay_ms=800", "--link-out", "delay_ms=800"]


def test_a_ramp_that_ends_the_run_lets_every_worker_request_finish(bench: Path) -> None:
    """The ramp's shape ends the run itself (locust quits the master) while requests are still
    in flight: the master must wait for them, so none is cut off and every row arrives."""
    cell = _local_processes(bench, _profile(bench, RAMP), BOUND_S, SLOW_LINK)  # the shape ends it
    assert "Shape test stopping" in (cell / "locust.log").read_text()  # the shape ended it
    section = finalize_load_outputs(cell)
    workers = section["workers"].values()
    assert len(workers) == 2 and all(w["done"] for w in workers)
    assert section["failures"]["interrupted"] == 0  # no request cut off by the quit
    syns = _first_syns(cell / "capture-device.pcap")
    assert section["requests"] == len(syns) > 0
