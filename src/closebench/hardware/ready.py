"""Readiness: the board counts as up once it answers an HTTP HEAD on its lab address."""

from __future__ import annotations

import http.client
import time

from closebench.errors import UserError
from closebench.hardware.safety import LoadTarget


def head_once(target: LoadTarget, timeout: float) -> int:
    conn = http.client.HTTPConnection(target.address, target.http_port, timeout=timeout)
    try:
        conn.request("HEAD", "/", headers={"Connection": "close"})
        return conn.getresponse().status
    finally:
        conn.close()


def wait_ready(
    target: LoadTarget,
    board: str,
    timeout_s: float,
    interval_s: float = 1.0,
    attempt_timeout_s: float = 2.0,
) -> int:
    """Poll with HEAD until any HTTP status comes back; bounded by `timeout_s`.

    One request per `interval_s` at most: a board still associating to Wi-Fi should not be
    fed a SYN burst before the measurement even starts."""
    deadline = time.monotonic() + timeout_s
    last_error = "no attempt made"
    while True:
        started = time.monotonic()
        try:
            return head_once(target, min(attempt_timeout_s, max(0.1, deadline - started)))
        except (OSError, http.client.HTTPException) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise UserError(
                f"board {board} not ready: no HTTP answer from {target.url} within "
                f"{timeout_s:g} s (last error: {last_error})"
            )
        time.sleep(
            max(0.0, min(interval_s - (time.monotonic() - started), deadline - time.monotonic()))
        )
