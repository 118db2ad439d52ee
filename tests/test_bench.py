"""The emulated bench: real lwIP builds on a TAP in private namespaces, checked from captures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from benchutil import DEVICE, client, http, up
from scapy.all import TCP, rdpcap

pytestmark = pytest.mark.netns


@pytest.mark.parametrize("lwip", ["2.1.3", "2.2.1"])
def test_pages_and_led_on_real_lwip(bench: Path, lwip: str) -> None:
    box = up(bench, lwip=lwip)
    try:
        head = http(box, "HEAD / HTTP/1.1\r\nHost: d\r\n\r\n")
        assert head.startswith("HTTP/1.1 200") and "<html" not in head
        page = http(box, "GET / HTTP/1.1\r\nHost: d\r\n\r\n")
        assert "/?led=on" in page and "/?led=off" in page
        assert http(box, "GET /?led=on HTTP/1.1\r\n\r\n").startswith("HTTP/1.1 200")
        assert http(box, "GET /nope HTTP/1.1\r\n\r\n").startswith("HTTP/1.1 404")
        assert http(box, "BREW / HTTP/1.1\r\n\r\n").startswith("HTTP/1.1 400")
        time.sleep(0.3)
    finally:
        box.stop()
    timeline = pd.read_csv(bench / "device.csv")
    assert timeline["led"].iloc[0] == 0 and timeline["led"].max() == 1
    syns = [
        p for p in rdpcap(str(bench / "capture-client.pcap")) if TCP in p and p[TCP].flags == "S"
    ]
    assert len(syns) == 5


def test_linux_reference_answers_the_same_pages(bench: Path) -> None:
    box = up(bench, kind="linux")
    try:
        assert http(box, "HEAD / HTTP/1.1\r\n\r\n").startswith("HTTP/1.1 200")
        assert "/?led=off" in http(box, "GET /?led=on HTTP/1.1\r\n\r\n")
        assert http(box, "GET /x HTTP/1.1\r\n\r\n").startswith("HTTP/1.1 404")
        time.sleep(0.3)
    finally:
        box.stop()
    assert pd.read_csv(bench / "device.csv")["led"].max() == 1
    # the device-side capture is written by the link: the same connections, seen from there
    dev = [
        p for p in rdpcap(str(bench / "capture-device.pcap")) if TCP in p and p[TCP].flags == "S"
    ]
    assert len(dev) == 3


def test_time_wait_lasts_two_msl(bench: Path) -> None:
    """TCP_MSL = 1000 ms: the device-first close leaves TIME_WAIT for 2 s, then frees it."""
    box = up(bench, options={"TCP_MSL": 1000})
    try:
        http(box, "HEAD / HTTP/1.1\r\n\r\n")
        time.sleep(4)
    finally:
        box.stop()
    tl = pd.read_csv(bench / "device.csv")
    tw = tl[tl["time_wait"] > 0]
    assert not tw.empty, "the device never entered TIME_WAIT"
    held_ms = tw["t_ms"].iloc[-1] - tw["t_ms"].iloc[0]
    # 2*MSL with the 500 ms slow-timer grain of lwIP 2.x
    assert 1500 <= held_ms <= 2700, held_ms
    assert tl["time_wait"].iloc[-1] == 0


def test_pcb_pool_of_five_drops_the_sixth_syn(bench: Path) -> None:
    # An event-driven app (NodeMCU's net) closes at the client's FIN; the accept-loop apps
    # (bsd-socket) serve one client at a time and would leave the 5th in CLOSE_WAIT.
    box = up(bench, options={"MEMP_NUM_TCP_PCB": 5}, close="nodemcu-net")
    try:
        out = client(
            box,
            f"""
            import socket, time
            held = [socket.create_connection(("{DEVICE}", 80), timeout=2) for _ in range(5)]
            sixth = socket.socket(); sixth.settimeout(0.6)
            try:
                sixth.connect(("{DEVICE}", 80)); print("sixth-connected-early")
            except OSError:
                print("sixth-blocked")
            sixth.close()
            held.pop().close()          # free one PCB: client FIN, device answers, PCB freed
            time.sleep(0.5)
            again = socket.create_connection(("{DEVICE}", 80), timeout=3)
            print("sixth-connected-after-free")
            again.close()
            for s in held: s.close()
        """,
        )
        time.sleep(0.3)
    finally:
        box.stop()
    assert "sixth-blocked" in out and "sixth-connected-after-free" in out
    pkts = rdpcap(str(bench / "capture-client.pcap"))
    syn_ports = [p[TCP].sport for p in pkts if TCP in p and p[TCP].flags == "S"]
    synack_ports = {p[TCP].dport for p in pkts if TCP in p and p[TCP].flags == "SA"}
    blocked = syn_ports[5]
    assert blocked not in synack_ports, "the 6th SYN got a SYN-ACK while 5 PCBs were in use"


def test_port_reuse_meets_lwip_time_wait(bench: Path) -> None:
    """lwIP holds TIME_WAIT (device closed first) while Linux reuses the port at once: the new
    SYN gets a bare ACK (out of window) or a RST (in window), never a SYN-ACK. A real fault
    the bench must let happen and record."""
    box = up(bench)  # default MSL: TIME_WAIT 120 s
    try:
        out = client(
            box,
            f"""
            import socket
            def once(timeout):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("198.18.0.1", 40123)); s.settimeout(timeout)
                try:
                    s.connect(("{DEVICE}", 80)); s.sendall(b"HEAD / HTTP/1.1\\r\\n\\r\\n")
                    while s.recv(4096): pass
                    return "ok"
                except OSError as e:
                    return type(e).__name__
                finally:
                    s.close()
            print(once(3)); import time; time.sleep(0.3); print(once(2.5))
        """,
        )
        time.sleep(0.3)
    finally:
        box.stop()
    first, second = out.split()
    assert first == "ok" and second != "ok"
    pkts = [
        p
        for p in rdpcap(str(bench / "capture-client.pcap"))
        if TCP in p and 40123 in (p[TCP].sport, p[TCP].dport)
    ]
    syn_times = [p.time for p in pkts if p[TCP].flags == "S"]
    assert len(syn_times) >= 2
    answers = [str(p[TCP].flags) for p in pkts if p[TCP].sport == 80 and p.time > syn_times[1]]
    assert answers and "SA" not in answers
    assert any(a in ("A", "R", "RA") for a in answers)


def test_sigkill_of_the_orchestrator_leaves_nothing(bench: Path) -> None:
    code = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
from benchutil import up
from pathlib import Path
box = up(Path({str(bench)!r}))
print(box.pid, flush=True)
time.sleep(120)
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    inner_pid = int(proc.stdout.readline())
    assert Path(f"/proc/{inner_pid}").exists()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{inner_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{inner_pid}").exists(), "the bench outlived its orchestrator"


def test_rootless_bench_through_a_user_namespace(
    bench: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path a non-root user takes: user+net+pid namespaces, and a world-openable TUN node
    (made once by root) bound over /dev/net/tun inside the sandbox."""
    nodes = tmp_path_factory.mktemp("tun")
    node = nodes / "tun-closebench"
    subprocess.run(["mknod", "-m", "666", str(node), "c", "10", "200"], check=True)
    monkeypatch.setenv("CLOSEBENCH_ROOTLESS", "1")
    monkeypatch.setenv("CLOSEBENCH_TUN", str(node))
    box = up(bench)
    try:
        assert box.rootless
        assert os.readlink(f"/proc/{box.pid}/ns/user") != os.readlink("/proc/self/ns/user")
        assert http(box, "HEAD / HTTP/1.1\r\n\r\n").startswith("HTTP/1.1 200")
        time.sleep(0.3)
    finally:
        box.stop()
    syns = [p for p in rdpcap(str(bench / "capture-client.pcap"))
            if TCP in p and p[TCP].flags == "S"]  # fmt: skip
    assert len(syns) == 1
