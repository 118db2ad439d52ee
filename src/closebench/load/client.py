"""A minimal HTTP/1.1 client that opens one new TCP connection per request.

connect, send the request, read the response (headers, plus the body when the response
says how long it is), close: the client closes right after reading, as the original
ESP8266 test script did. Nothing is pooled or kept alive, so every request is exactly one
SYN in the capture. Plain blocking sockets here, for tests and tools; the locust users run
the same request on gevent's loop directly (`closebench.load.green_client`, faster: measured
there). Both measured faster than geventhttpclient with a fresh connection per request.

Failures are sorted by kind, because the kind is the finding (a `refused` is a SYN answered
by RST, a `connect_timeout` a SYN never answered, a `reset` a RST after connecting).
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Protocol

CONNECT_TIMEOUT = "connect_timeout"
RESET = "reset"
REFUSED = "refused"
TIMEOUT = "timeout"
HTTP_ERROR = "http_error"
# The kernel never sent the SYN: ARP for the device got no answer (a lossy link drops ARP
# too). Such a request has no connection in the capture, so it is counted apart.
UNREACHABLE = "unreachable"
OTHER = "other"

_MAX_HEADER_BYTES = 16 * 1024
_RESET_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}


class RequestFailed(Exception):
    """A failed request, with its kind. repr() is the kind alone, because locust groups its
    failures table by repr: one row per kind in load_failures.csv."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail

    def __repr__(self) -> str:
        return self.kind


@dataclass
class Result:
    start_epoch_s: float
    latency_ms: float
    local_port: int
    status: int
    response_bytes: int
    error: RequestFailed | None


@lru_cache(maxsize=64)  # a user sends the same few requests thousands of times
def build_request(method: str, host: str, path: str) -> bytes:
    # Connection: close says what we do anyway: one request per connection.
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: closebench\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")


def connect_error(exc: OSError) -> RequestFailed:
    if isinstance(exc, TimeoutError):
        return RequestFailed(CONNECT_TIMEOUT, "no answer to SYN")
    if isinstance(exc, ConnectionRefusedError):
        return RequestFailed(REFUSED, "SYN answered by RST")
    if exc.errno in _RESET_ERRNOS:
        return RequestFailed(RESET, str(exc))
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return RequestFailed(UNREACHABLE, f"connect: {exc}")
    return RequestFailed(OTHER, f"connect: {exc}")


def io_error(exc: OSError) -> RequestFailed:
    if isinstance(exc, TimeoutError):
        return RequestFailed(TIMEOUT, "response not complete in time")
    if isinstance(exc, ConnectionError) or exc.errno in _RESET_ERRNOS:
        return RequestFailed(RESET, str(exc))
    return RequestFailed(OTHER, str(exc))


def read_response(
    recv: Callable[[int], bytes], method: str, until_eof: bool, headers_only: bool = False
) -> tuple[int, int]:
    """Read one response through `recv` (a socket's, or a cooperative one); return (status,
    bytes read). Raises RequestFailed, or OSError from `recv`.

    `headers_only`: take exactly the header bytes from the kernel (one byte per call, so
    nothing past the blank line is read) and stop there, as wget --spider does on the wire:
    a body that follows stays unread, and close() then sends RST."""
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        chunk = recv(1 if headers_only else 4096)
        if not chunk:
            raise RequestFailed(OTHER, "closed before a complete response header")
        buf += chunk
        if len(buf) > _MAX_HEADER_BYTES:
            raise RequestFailed(HTTP_ERROR, "response header too long")
    head, _, body = bytes(buf).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise RequestFailed(HTTP_ERROR, f"bad status line {lines[0][:60]!r}")
    status = int(parts[1])
    length: int | None = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
    total = len(buf)
    # HEAD and 1xx/204/304 have no body whatever Content-Length says (RFC 9112, 6.3).
    has_body = method != "HEAD" and status >= 200 and status not in (204, 304)
    remaining = (length - len(body)) if (has_body and length is not None) else 0
    read_to_eof = until_eof or (has_body and length is None)
    if headers_only:
        remaining, read_to_eof = 0, False
    while remaining > 0 or read_to_eof:
        chunk = recv(65536)
        if not chunk:
            if remaining > 0:
                raise RequestFailed(OTHER, "closed before the end of the body")
            break
        total += len(chunk)
        remaining -= len(chunk)
    if status >= 400:
        raise RequestFailed(HTTP_ERROR, f"HTTP {status}")
    return status, total


class Connection(Protocol):
    """One TCP connection as run_request drives it (blocking here, cooperative in
    green_client): blocking calls inside `deadline(t)` raise TimeoutError after t seconds."""

    def deadline(self, seconds: float) -> AbstractContextManager[object]: ...
    def connect(self, address: tuple[str, int]) -> None: ...
    def sendall(self, data: bytes) -> None: ...
    def recv(self, size: int) -> bytes: ...
    def local_port(self) -> int: ...
    def close(self) -> None: ...


class BlockingConnection:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    def deadline(self, seconds: float) -> AbstractContextManager[object]:
        self.sock.settimeout(seconds)  # per blocking call: enough for one connect, one read
        return nullcontext()

    def connect(self, address: tuple[str, int]) -> None:
        self.sock.connect(address)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, size: int) -> bytes:
        return self.sock.recv(size)

    def local_port(self) -> int:
        return int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()


def run_request(
    new_connection: Callable[[], Connection],
    address: tuple[str, int],
    method: str,
    path: str,
    *,
    connect_timeout_s: float,
    timeout_s: float,
    until_eof: bool = False,
    headers_only: bool = False,
) -> Result:
    """One request on a new connection. Never raises for network errors: see Result.error.

    `until_eof`: read until the server's FIN before closing (server closes first);
    `headers_only`: read the headers only and close (anything after them stays unread);
    otherwise close as soon as the response is complete.
    """
    start = time.time()
    t0 = time.perf_counter()
    conn = new_connection()
    local_port = 0
    status = 0
    received = 0
    error: RequestFailed | None = None
    try:
        try:
            with conn.deadline(connect_timeout_s):
                conn.connect(address)
        except OSError as exc:  # TimeoutError included
            error = connect_error(exc)
        else:
            try:
                with conn.deadline(timeout_s):
                    conn.sendall(build_request(method, address[0], path))
                    status, received = read_response(conn.recv, method, until_eof, headers_only)
            except RequestFailed as exc:
                error = exc
            except OSError as exc:
                error = io_error(exc)
        # The port is bound by connect() even when the SYN got no answer, so failed
        # requests can be found in the capture too.
        try:
            local_port = conn.local_port()
        except OSError:
            local_port = 0
    finally:
        conn.close()
    latency_ms = (time.perf_counter() - t0) * 1000
    return Result(start, latency_ms, local_port, status, received, error)


# One request on one new blocking connection; see run_request.
request_once = partial(run_request, BlockingConnection)
