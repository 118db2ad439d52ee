"""cbdev command line: argument errors, and a real smoke test in a throwaway netns (root)."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from closebench.bench.device_build import build_device

COLUMNS = (
    "epoch_s,t_ms,reason,led,listen,syn_rcvd,established,fin_wait_1,fin_wait_2,close_wait,"
    "closing,last_ack,time_wait,pcbs,mem_used,mem_max,memp_tcp_pcb_used,memp_tcp_seg_used,"
    "memp_pbuf_used,alloc_fail,syn_dropped,culled,rx_frames,tx_frames,link_drop_in,link_drop_out,"
    "heap_free"
)

CLIENT = r"""
import json, socket
def req(raw):
    s = socket.create_connection(("198.18.0.2", 80), timeout=5)
    s.sendall(raw)
    data = b""
    while chunk := s.recv(4096):
        data += chunk
    s.close()
    return data.decode()
print(json.dumps([req(b"HEAD / HTTP/1.1\r\nHost: d\r\n\r\n"),
                  req(b"GET /?led=on HTTP/1.1\r\nHost: d\r\n\r\n"),
                  req(b"GET /missing HTTP/1.1\r\n\r\n"),
                  req(b"DELETE / HTTP/1.1\r\n\r\n")]))
"""

NS_SETUP = """
set -e
sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1
ip link set lo up
ip tuntap add cbt0 mode tap
ip addr add 198.18.0.1/24 dev cbt0
ip link set cbt0 up
"""


@pytest.fixture(scope="module")
def cbdev() -> Path:
    return build_device("2.1.3", {}, log=lambda m: None).path


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--tap", "cbt0", "--bogus"],
        ["--tap", "cbt0", "--ip", "10.0.0.2"],
        ["--tap", "cbt0", "--ip", "198.18.0.2", "--close", "lingering"],
        ["--tap", "cbt0", "--ip", "198.18.0.2", "--port", "0"],
        ["--tap", "cbt0", "--ip", "198.18.0.2", "--link-in", "loss=2"],
        ["--tap", "cbt0", "--ip", "198.18.0.2", "--link-out", "speed=3"],
        ["--tap", "cbt0", "--ip", "198.18.0.2", "--seed"],
        ["--tap", "cbt0"],
        ["--tap", "cbt0", "--ip", "198.18.0.2", "extra"],
    ],
)
def test_bad_arguments(cbdev: Path, argv: list[str]) -> None:
    proc = subprocess.run([str(cbdev), *argv], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cbdev: ")


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces and TAP devices"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    missing = [t for t in ("unshare", "nsenter", "ip", "sysctl") if not shutil.which(t)]
    return f"missing tools: {', '.join(missing)}" if missing else None


@pytest.fixture
def netns() -> Iterator[str]:
    """A private network namespace held by a sleeping process; gone when it exits."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    holder = subprocess.Popen(["unshare", "--net", "sleep", "300"])
    path = f"/proc/{holder.pid}/ns/net"
    try:
        deadline = time.monotonic() + 60  # only a failure bound: the signal is the new netns
        while os.readlink(path) == os.readlink("/proc/self/ns/net"):
            assert time.monotonic() < deadline, "unshare did not create a namespace"
            time.sleep(0.01)
        subprocess.run(["nsenter", f"--net={path}", "sh", "-c", NS_SETUP], check=True)
        yield path
    finally:
        holder.kill()
        holder.wait()


def _wait_ready(proc: subprocess.Popen[str], timeout: float) -> str:
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        raise AssertionError("cbdev did not print its ready line")
    return proc.stdout.readline().strip()


@pytest.mark.netns
def test_smoke_in_namespace(cbdev: Path, netns: str, tmp_path: Path) -> None:
    timeline, pcap = tmp_path / "device.csv", tmp_path / "device.pcap"
    argv = [str(cbdev), "--tap", "cbt0", "--tap-netns", netns, "--ip", "198.18.0.2",
            "--gw", "198.18.0.1", "--port", "80", "--close", "bsd-socket",
            "--timeline", str(timeline), "--timeline-ms", "50", "--pcap", str(pcap),
            "--duration-s", "60"]  # fmt: skip
    dev = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_ready(dev, 60) == "cbdev ready ip=198.18.0.2 port=80"
        client = subprocess.run(
            ["nsenter", f"--net={netns}", sys.executable, "-c", CLIENT],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        head, led_on, missing, bad = json.loads(client.stdout)
        assert head.startswith("HTTP/1.1 200 OK\r\n") and head.endswith("\r\n\r\n")
        assert "Connection: close\r\n" in head and "Content-Length: " in head
        assert "LED is on" in led_on
        assert missing.startswith("HTTP/1.1 404 ")
        assert bad.startswith("HTTP/1.1 400 ")
        # nothing to wait for: cbdev writes each frame to its pcap as it passes, and its
        # timeline's last row (the state at SIGTERM) as it stops
        dev.send_signal(signal.SIGTERM)
        _, err = dev.communicate(timeout=10)
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()
    assert dev.returncode == 0
    counters = json.loads(err.strip().splitlines()[-1])
    assert counters["rx_frames"] > 0 and counters["tx_frames"] > 0
    assert counters["link_drop_in"] == 0 and counters["syn_dropped"] == 0

    rows = timeline.read_text().splitlines()
    assert rows[0] == COLUMNS
    led = COLUMNS.split(",").index("led")
    assert any(r.split(",")[led] == "1" for r in rows[1:])
    assert rows[1].split(",")[led] == "0"

    from scapy.all import TCP, rdpcap

    flags = [p[TCP].flags for p in rdpcap(str(pcap)) if TCP in p]
    assert any(f.S and not f.A for f in flags)  # client SYN
    assert any(f.F for f in flags)
    assert len(flags) >= 4 * 3
