"""The ramp's verdict: a breaking point only where the stack, not the harness, gave up."""

from __future__ import annotations

from pathlib import Path

import pytest

from closebench.load.profiles import load_profile
from closebench.load.ramp import ramp_summary

PROFILE = load_profile("ramp")  # 1 user + 5 per 10 s step, 10 req/s per user


def write(path: Path, per_step: list[tuple[int, int]], latency_ms: float = 1.0) -> Path:
    """per_step: (ok, failed) request counts in each 10 s step, spread evenly."""
    lines = ["start_epoch_s,latency_ms,ok,error_kind,local_port,name"]
    for step, (ok, failed) in enumerate(per_step):
        n = ok + failed
        for i in range(n):
            t = 1000 + step * 10 + 10 * i / n
            good = i < ok
            kind = "" if good else "connect_timeout"
            lines.append(f"{t:.4f},{latency_ms},{int(good)},{kind},1,/")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_failures_mark_the_breaking_point(tmp_path: Path) -> None:
    # offered 10, 60, 110 req/s; delivered in full until the third step fails
    res = ramp_summary(write(tmp_path / "r.csv", [(100, 0), (600, 0), (900, 200)]), PROFILE)
    assert res is not None and res["verdict"].startswith("breaking point at ~110 conn/s")


def test_a_shortfall_without_failures_is_the_harness(tmp_path: Path) -> None:
    # the third step offers 110 req/s but only 70 go out, none failing: clients were the limit
    res = ramp_summary(write(tmp_path / "r.csv", [(100, 0), (600, 0), (700, 0), (700, 0)]),
                       PROFILE)  # fmt: skip
    assert res is not None and res["verdict"] == "harness-limited at 70 conn/s (offered 110)"


def test_a_shortfall_with_slow_answers_is_the_device(tmp_path: Path) -> None:
    # the same shortfall, but each request took 150 ms against the users' 100 ms pacing: the
    # device (its modelled core queueing) held them back, not the clients
    csv_path = write(tmp_path / "r.csv", [(100, 0), (600, 0), (700, 0), (700, 0)], latency_ms=150.0)
    res = ramp_summary(csv_path, PROFILE)
    assert res is not None
    assert res["verdict"] == (
        "breaking point at ~70 conn/s (device saturated: offered 110; slow answers took 32% of "
        "the users' time, p99 150 ms)"
    )
    assert res["steps"][2]["slow_time_share"] == pytest.approx(0.318, abs=0.001)
