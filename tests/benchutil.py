"""Helpers for tests that bring a device up and talk to it from the client namespace."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from closebench.bench.sandbox import Sandbox
from closebench.pipeline.session import bring_up

DEVICE = "198.18.0.2"


def up(
    cell: Path,
    *,
    kind: str = "lwip",
    lwip: str = "2.1.3",
    options: dict | None = None,
    close: str = "bsd-socket",
    extra: list[str] | None = None,
    duration_s: float = 120,
    link_args: list[str] | None = None,
) -> Sandbox:
    return bring_up(
        kind=kind,
        lwip=lwip,
        options=options or {},
        device_args=["--close", close, *(extra or [])],
        link_args=link_args or [],
        cell_dir=cell,
        duration_s=duration_s,
        log=lambda _m: None,
    )


def client(box: Sandbox, code: str, timeout: float = 60) -> str:
    """Run Python in the bench's client namespace (the only place our packets go)."""
    res = subprocess.run(
        [*box.enter_cmd(), sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def http(box: Sandbox, request: str) -> str:
    return client(
        box,
        f"""
        import socket
        s = socket.create_connection(("{DEVICE}", 80), timeout=5)
        s.sendall({request.encode()!r})
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        s.close()
        print(data.decode("latin-1"))
    """,
    )


# /proc/net/tcp states of a socket that has sent its FIN and waits for the peer's answer
# (FIN_WAIT1, LAST_ACK, CLOSING), and the device's address:port as that file writes it.
_AWAITING_ANSWER = ("04", "09", "0B")
_DEVICE_HTTP = "020012C6:0050"  # 198.18.0.2:80, address little-endian


def wait_answered(box: Sandbox) -> None:
    """Until no client socket to the device still waits for its answer to our FIN (the ACK
    the device sends as it takes the FIN, or its RST): the device has seen every close.
    Bounded only by client()'s failure timeout."""
    client(
        box,
        f"""
        import time
        def waiting():
            rows = [line.split() for line in open("/proc/net/tcp").read().splitlines()[1:]]
            return [r for r in rows if r[2] == "{_DEVICE_HTTP}" and r[3] in {_AWAITING_ANSWER}]
        while waiting():
            time.sleep(0.01)
    """,
    )
