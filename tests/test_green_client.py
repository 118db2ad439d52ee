"""The locust users' client on gevent's loop: same answers and failure kinds as the blocking one."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import gevent
import pytest

from closebench.load import client as load_client
from closebench.load import green_client

# The timeouts a request is given where an answer comes: only failure bounds (a loaded host
# may take seconds to schedule the local server's thread), far from anything asserted.
ANSWER_BOUND_S = 30.0


def _green(port: int, **kwargs: float) -> load_client.Result:
    timeouts = {"connect_timeout_s": ANSWER_BOUND_S, "timeout_s": ANSWER_BOUND_S, **kwargs}
    return green_client.request_once(("127.0.0.1", port), "HEAD", "/", **timeouts)


def test_answer_matches_the_blocking_client(server_port: int) -> None:
    green = _green(server_port)
    plain = load_client.request_once(
        ("127.0.0.1", server_port), "HEAD", "/",
        connect_timeout_s=ANSWER_BOUND_S, timeout_s=ANSWER_BOUND_S,
    )  # fmt: skip
    assert green.error is None and plain.error is None
    assert (green.status, green.response_bytes) == (plain.status, plain.response_bytes) == (200, 57)
    assert green.local_port > 0 and green.local_port != plain.local_port


def test_many_concurrent_requests_each_on_a_new_connection(server_port: int) -> None:
    jobs = [gevent.spawn(_green, server_port) for _ in range(60)]
    gevent.joinall(jobs, timeout=2 * ANSWER_BOUND_S)  # the requests' own bounds end them first
    results = [job.value for job in jobs]
    assert all(r is not None and r.error is None for r in results)
    assert len({r.local_port for r in results}) == 60  # one connection (port) per request


def test_refused() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: the SYN is answered by RST
    error = _green(port).error
    assert error is not None and error.kind == load_client.REFUSED


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Accepts connections (kernel backlog) but never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


def test_no_answer_is_a_timeout_not_a_hang(silent_port: int) -> None:
    result = _green(silent_port, timeout_s=0.3)
    assert result.error is not None and result.error.kind == load_client.TIMEOUT
    # it waited its 0.3 s bound and ended by it (not by the 30 s connect bound, not a hang); how
    # soon after the bound the loop woke up is the host's scheduling, not asserted
    assert result.latency_ms > 250


def test_reset_after_connecting() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def reset_one() -> None:
        conn, _ = listener.accept()
        conn.recv(4096)
        # linger 0: close() sends RST instead of FIN
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    thread = threading.Thread(target=reset_one, daemon=True)
    thread.start()
    try:
        error = _green(listener.getsockname()[1]).error
    finally:
        thread.join(5)
        listener.close()
    assert error is not None and error.kind == load_client.RESET
