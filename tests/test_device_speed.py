"""The chip's speed on the real bench: a modelled device serves one request after the other.

Oracle: the device's own capture (capture-device.pcap: each frame stamped when it leaves the
device). Two requests sent at once to a device on nodemcu-2016's modelled core must come back
at least the modelled work of the second apart (its receive and its send, stack + app); at host
speed (no --cpu) the core model is off and its counters stay zero.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchutil import DEVICE, client, up

from closebench.variants.manifest import load_variant

pytestmark = pytest.mark.netns

TWO_AT_ONCE = f"""
import socket
socks = [socket.create_connection(("{DEVICE}", 80), timeout=10) for _ in range(2)]
for s in socks:
    s.sendall(b"HEAD / HTTP/1.1\\r\\nHost: d\\r\\n\\r\\n")
answers = []
for s in socks:
    data = b""
    while chunk := s.recv(4096):
        data += chunk
    s.close()
    answers.append(data.decode("latin-1"))
print(answers[0].split("\\r\\n")[0], answers[1].split("\\r\\n")[0], sep="|")
"""


def _response_times(pcap: Path) -> list[float]:
    """When each HTTP response (a data segment from the device) left the device."""
    from scapy.all import IP, TCP, rdpcap

    return [
        float(p.time)
        for p in rdpcap(str(pcap))
        if IP in p and TCP in p and p[IP].src == DEVICE and len(p[TCP].payload) > 0
    ]


def _serve_two(cell: Path, extra: list[str]) -> tuple[list[float], dict]:
    # nodemcu-net: the NodeMCU app, which answers in its receive callback (event-driven)
    box = up(cell, close="nodemcu-net", extra=extra)
    try:
        assert client(box, TWO_AT_ONCE).strip() == "HTTP/1.1 200 OK|HTTP/1.1 200 OK"
    finally:
        box.stop()
    inner = json.loads((cell / "inner.json").read_text())  # written by the bench's PID 1
    return _response_times(cell / "capture-device.pcap"), inner.get("device") or {}


def test_modelled_core_serves_back_to_back_requests_one_after_the_other(bench: Path) -> None:
    timing = load_variant("nodemcu-2016").timing
    assert timing is not None
    times, counters = _serve_two(bench / "model", ["--cpu", timing.device_spec()])
    assert len(times) == 2, times
    assert counters["cpu_busy_us"] > 0 and counters["cpu_queue_drop"] == 0
    # between the two answers the core did at least the second request's work. A loaded host
    # wakes the device loop late and releases both at once: the first answer can leave up to
    # cpu_late_max_us after its modelled time, which the spacing on the wire loses (the device
    # program's own measure of it, so the check holds at any load and is exact on an idle one)
    (rs, ra), (ss, sa) = timing.costs["receive"], timing.costs["send"]
    least_s = (rs + ra + ss + sa) / 1e6
    late_s = counters["cpu_late_max_us"] / 1e6
    gap = times[1] - times[0]
    assert gap >= least_s - late_s - 0.0003, (gap, least_s, late_s)  # 0.3 ms: pcap stamp slack


def test_host_speed_is_unchanged(bench: Path) -> None:
    times, counters = _serve_two(bench / "host", [])
    assert len(times) == 2, times
    # without --cpu nothing waits for a modelled core: the core model did no work at all
    # (no assertion on the gap itself: at host speed it is the host's scheduling, and a
    # loaded host may put any gap between the two answers)
    assert counters["cpu_busy_us"] == 0 and counters["cpu_pieces"] == 0
