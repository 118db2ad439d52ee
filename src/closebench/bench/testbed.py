"""The bench topology, set up from inside the sandbox (whose netns is the client's).

client netns (the "laptop": Linux TCP, locust, tcpdump on cb0)
    cb0 198.18.0.1 ──TAP──► cbdev: emulated link (seeded impairment, device-side pcap)
                              ├─ lwIP variants: real lwIP stack at 198.18.0.2
                              └─ linux-reference: bridge to cbd0 in a second netns,
                                 where a kernel-TCP HTTP server listens at 198.18.0.2
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from closebench.bench import netsetup
from closebench.errors import UserError


@dataclass
class DeviceSpec:
    kind: str  # "lwip" or "linux"
    binary: str  # the cbdev build (also the link for the Linux reference)
    device_args: list[str] = field(default_factory=list)
    link_args: list[str] = field(default_factory=list)
    seed: int = 1
    port: int = 80
    pcap: str | None = None
    timeline: str | None = None
    log_dir: str = "."
    duration_s: float = 3600.0


def _pump(stream: IO[bytes], sink: IO[bytes]) -> None:
    for chunk in iter(lambda: stream.readline(), b""):
        sink.write(chunk)
        sink.flush()


def _wait_for_line(
    proc: subprocess.Popen[bytes], marker: bytes, timeout: float, what: str, log: IO[bytes]
) -> None:
    """Block until `proc` prints a line starting with marker; then keep copying to log."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
            break
        line = proc.stdout.readline()
        if not line:
            raise UserError(f"{what} exited with {proc.wait()} before it was ready: see {log.name}")
        log.write(line)
        log.flush()
        if line.startswith(marker):
            sel.close()
            threading.Thread(target=_pump, args=(proc.stdout, log), daemon=True).start()
            return
    raise UserError(f"{what} was not ready within {timeout:.0f} s: see {log.name}")


class Testbed:
    """One device on the link, from network setup to a clean stop."""

    def __init__(self, spec: DeviceSpec) -> None:
        self.spec = spec
        self.log_dir = Path(spec.log_dir)
        self.device: subprocess.Popen[bytes] | None = None
        self.server: subprocess.Popen[bytes] | None = None
        self.counters: dict[str, object] = {}

    def setup_network(self) -> None:
        netsetup.bind_tun()
        netsetup.quiet_namespace()
        netsetup.add_tap(netsetup.CLIENT_TAP, netsetup.CLIENT_IP)

    def start_device(self) -> float:
        """Start the device (and for Linux the reference server); returns its ready time."""
        s = self.spec
        argv = [
            s.binary,
            "--tap",
            netsetup.CLIENT_TAP,
            "--seed",
            str(s.seed),
            "--duration-s",
            str(int(s.duration_s)),
            *s.link_args,
        ]
        if s.pcap:
            argv += ["--pcap", s.pcap]
        if s.kind == "linux":
            ns = self._start_reference_server()
            argv += ["--bridge-tap", netsetup.DEVICE_TAP, "--bridge-netns", ns]
            if s.timeline:
                argv += ["--timeline", str(Path(s.timeline).with_name("link.csv"))]
        else:
            argv += [
                "--ip",
                netsetup.DEVICE_IP,
                "--netmask",
                "255.255.255.0",
                "--gw",
                netsetup.CLIENT_IP,
                "--mac",
                netsetup.DEVICE_MAC,
                "--port",
                str(s.port),
                *s.device_args,
            ]
            if s.timeline:
                argv += ["--timeline", s.timeline]
        log = (self.log_dir / "device.log").open("ab")
        self._device_log = log
        self._device_err = (self.log_dir / "device.stderr.log").open("w+b")
        self.device = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._device_err)
        marker = b"cbdev ready"
        _wait_for_line(self.device, marker, 15, f"device `{' '.join(argv)}`", log)
        return time.time()

    def _start_reference_server(self) -> str:
        s = self.spec
        argv = [
            "unshare",
            "--net",
            "--",
            sys.executable,
            "-m",
            "closebench.bench.reference_server",
            "--port",
            str(s.port),
            "--duration-s",
            str(int(s.duration_s)),
        ]
        if s.timeline:
            argv += ["--timeline", s.timeline]
        log = (self.log_dir / "reference.log").open("ab")
        self.server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log)
        _wait_for_line(self.server, b"reference ready", 15, "Linux reference server", log)
        ns = f"/proc/{self.server.pid}/ns/net"
        # Never configure a namespace we cannot prove is the server's own (a PID read
        # through the wrong /proc would point at some other process, even the host's).
        cmdline = Path(f"/proc/{self.server.pid}/cmdline").read_bytes()
        if b"reference_server" not in cmdline or os.readlink(ns) == os.readlink(
            "/proc/self/ns/net"
        ):
            raise UserError(f"refusing to configure {ns}: not the reference server's namespace")
        prefix = netsetup.nsenter(ns)
        netsetup.quiet_namespace(prefix)
        netsetup.add_tap(netsetup.DEVICE_TAP, netsetup.DEVICE_IP, prefix=prefix)
        return ns

    def stop_device(self) -> dict[str, object]:
        """SIGTERM: the device flushes its pcap and timeline and prints its counters."""
        for proc in (self.device, self.server):
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
        for proc in (self.device, self.server):
            if proc is None:
                continue
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.device is not None:
            self._device_err.seek(0)
            for line in self._device_err.read().decode(errors="replace").splitlines()[::-1]:
                if line.startswith("{"):
                    try:
                        self.counters = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    break
            self._device_err.close()
            self.counters["exit_code"] = self.device.returncode
        return self.counters
