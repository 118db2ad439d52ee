"""`closebench perf`'s device-rate run on the real bench: counts, CPU split, capture."""

from __future__ import annotations

from pathlib import Path

import pytest

from closebench.bench.device_build import build_device
from closebench.capture.tcpdump import count_first_syns
from closebench.commands.perf import PERF_LWIP, PERF_OPTIONS, device_rate
from closebench.pipeline.perf_inside import CpuSampler

pytestmark = pytest.mark.netns


def test_device_rate_counts_every_connection_and_splits_cpu(bench: Path) -> None:
    binary = build_device(PERF_LWIP, PERF_OPTIONS).path
    # Enough connections that the clients outlive several CPU samples (0.2 s apart) even on a
    # fast device (~25 k conn/s): 2000 each were over before the second sample.
    res = device_rate(binary, 5, bench, capture=True, max_conns=15000, clients=2)
    made = res["ok"] + res["failed"]
    assert res["ok"] > 0 and made <= 30000  # each client process stops at its max_conns
    # every request is one connection (one first SYN) in the capture
    assert count_first_syns(bench / "capture-client.pcap") == made
    window = res["cpu_window"]
    assert window["seconds"] > 0
    # the device and the client processes are told apart, and both worked
    assert window["device_cpu_s"] > 0 and window["client_cpu_s"] > 0
    assert window["capture_cpu_s"] >= 0


def test_cpu_window_cuts_between_the_nearest_samples() -> None:
    sampler = CpuSampler()
    sampler.samples = [
        (100.0, {"device": 1.0, "client": 2.0}),
        (100.2, {"device": 1.1, "client": 2.5}),
        (100.4, {"device": 1.3, "client": 3.0, "capture": 0.1}),
    ]
    window = sampler.window(100.15, 100.41)  # nearest samples: 100.2 and 100.4
    assert window["seconds"] == pytest.approx(0.2)
    assert window["device_cpu_s"] == pytest.approx(0.2)
    assert window["client_cpu_s"] == pytest.approx(0.5)
    assert window["capture_cpu_s"] == pytest.approx(0.1)  # a role that appears mid-window
