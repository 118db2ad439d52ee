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
