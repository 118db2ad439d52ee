"""Shared test helpers: the bench tests need root, /dev/net/tun, unshare and tcpdump.

Where they cannot run they skip with a one-line reason; they never silently pass. After each
bench test nothing of ours may be left: no TAP device, no cbdev or bench process.
"""

from __future__ import annotations

import os
import shutil
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


def bench_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces and TAP devices"
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun on this machine"
    for tool in ("unshare", "nsenter", "ip", "tcpdump", "gcc"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (run through ./dev)"
    probe = subprocess.run(["unshare", "--net", "--", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        return "network namespaces are not permitted here (unshare --net failed)"
    return None


def leftovers(mark: str = "") -> list[str]:
    """TAPs in the host namespace; bench processes whose command line mentions `mark`."""
    found = []
    taps = subprocess.run(
        ["ip", "-o", "link", "show", "type", "tun"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if taps:
        found.append(f"TAP devices in the host namespace: {taps}")
    # Processes named cbdev, or our Python bench modules (not, say, gcc building cbdev).
    procs = subprocess.run(
        ["pgrep", "-a", "-x", "cbdev"], capture_output=True, text=True, check=False
    ).stdout.strip()
    procs += subprocess.run(
        ["pgrep", "-af", r"-m closebench\.(bench|probes|pipeline)\.\w*(inside|reference_server)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    procs = "\n".join(line for line in procs.splitlines() if mark in line)
    if procs:
        found.append(f"bench processes still running: {procs}")
    return found


@pytest.fixture
def bench(tmp_path: Path):
    """Skip with a reason where the bench cannot run; fail if a test leaves anything behind."""
    reason = bench_unavailable()
    if reason:
        pytest.skip(reason)
    yield tmp_path
    left = leftovers(str(tmp_path))
    assert not left, "; ".join(left)


class _CloseAfterResponse(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(4096)
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


class _WideBacklogServer(socketserver.ThreadingTCPServer):
    request_queue_size = 128  # the default 5 drops SYNs when tens of clients connect at once
    daemon_threads = True


@pytest.fixture
def server_port() -> Iterator[int]:
    """An HTTP server on 127.0.0.1 that closes after each response."""
    server = _WideBacklogServer(("127.0.0.1", 0), _CloseAfterResponse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def broken_manifest(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of variant NAME's folder whose variant.toml has OLD replaced by NEW (once)."""
    from closebench.paths import variants_dir

    folder = tmp_path / name
    shutil.copytree(variants_dir() / name, folder)
    manifest = folder / "variant.toml"
    text = manifest.read_text()
    assert old in text, old
    manifest.write_text(text.replace(old, new, 1))
    return manifest
