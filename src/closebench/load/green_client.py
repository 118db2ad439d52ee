"""The load client's request on gevent's event loop directly: the locust users' hot path.

Same request, same failure kinds and same `Result` as `load_client.request_once`, which
stays the plain blocking version. Why a second one: at the harness's ceiling the client's
Python time per request is what limits the rate (`closebench perf`), and gevent's socket
wrapper is most of it. Measured in one run against the bench device (50 greenlets, one
process, 8 s each, CPU per request from os.times()):
  gevent socket with socket timeouts (one gevent Timeout per blocking call): ~137 us user
  gevent socket, one Timeout per phase (connect, exchange):                  ~95 us user
  this module (real socket, non-blocking, a libev io watcher per wait):       ~56 us user
with the kernel's part (~60 us sys) the same in all three.

A Timeout object is made per phase, never reused: re-arming one Timeout across requests
fired spuriously under load here (gevent 26.9, ~15 % of requests timed out falsely).
"""

from __future__ import annotations

import _socket
import errno
from functools import partial

from gevent import Timeout
from gevent.hub import get_hub

from closebench.load.client import run_request

_READ, _WRITE = 1, 2  # libev event bits
_IN_PROGRESS = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN)


class GreenConnection:
    """One non-blocking socket; waits switch to gevent's hub until the fd is ready."""

    def __init__(self) -> None:
        self.sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.hub = get_hub()

    def deadline(self, seconds: float) -> Timeout:
        # fresh per phase, never re-armed (see the module docstring)
        return Timeout(seconds, TimeoutError(f"no progress in {seconds} s"))

    def wait(self, events: int) -> None:
        # A fresh watcher per wait: it is stopped when the wait ends (hub.wait), so none is
        # active when the fd is closed and its number reused by the next connection.
        self.hub.wait(self.hub.loop.io(self.sock.fileno(), events))

    def connect(self, address: tuple[str, int]) -> None:
        err = self.sock.connect_ex(address)
        if err in _IN_PROGRESS:
            self.wait(_WRITE)
            err = self.sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        if err:
            raise OSError(err, f"connect: {errno.errorcode.get(err, err)}")

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                self.wait(_WRITE)

    def recv(self, size: int) -> bytes:
        while True:
            try:
                return self.sock.recv(size)
            except BlockingIOError:
                self.wait(_READ)

    def local_port(self) -> int:
        return int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()


# One request on one new connection, cooperatively; see `load_client.run_request`.
request_once = partial(run_request, GreenConnection)
