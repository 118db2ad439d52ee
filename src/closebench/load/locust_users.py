"""The base of the locustfile's users: one new TCP connection per request, at the profile's pace.

Importing it brings the run's machinery along (closebench.load.locust_listeners): a user
class alone would make requests but keep no record of them.
"""

from __future__ import annotations

import itertools
import time
from typing import Any
from urllib.parse import urlsplit

from gevent import GreenletExit
from locust import User, constant_pacing
from locust.exception import StopUser

from closebench.load.client import RequestFailed
from closebench.load.green_client import request_once
from closebench.load.locust_listeners import RUN


def profile_pacing(user: Any) -> float:
    """locust's constant pacing at the profile's interval, or at its phase's. Looked up at each
    wait: a remote worker adopts its profile at test_start, after this module was loaded."""
    if RUN.profile.phases:
        return phased_pacing(user)
    return constant_pacing(RUN.profile.interval_s)(user)


def phased_pacing(user: Any) -> float:
    """constant_pacing with the interval of the profile's phase at this moment of the run."""
    now = time.monotonic()
    interval = RUN.profile.interval_at(now - RUN.started_at, RUN.run_time_s)
    last_run = getattr(user, "_cb_last_run", None)
    ran = now - last_run - user._cb_last_wait if last_run is not None else 0.0
    user._cb_last_wait = max(0.0, interval - ran)
    user._cb_last_run = now
    return user._cb_last_wait


class ClosePerRequestUser(User):
    """One new TCP connection per request to the profile's paths in turn; each request ends
    as the profile's client_close says (closebench.load.behaviours)."""

    abstract = True

    def on_start(self) -> None:
        url = urlsplit(self.host or "http://127.0.0.1:80")
        self.address = (url.hostname or "127.0.0.1", url.port or 80)
        self.paths = itertools.cycle(RUN.profile.paths)

    def request(self, path: str) -> None:
        """One request, or StopUser once the run's time, budget or permission is over."""
        if not RUN.may_start_request(self.environment):
            raise StopUser()
        RUN.in_flight += 1
        try:
            self._request(path)
        finally:
            RUN.in_flight -= 1

    def _request(self, path: str) -> None:
        profile = RUN.profile
        start = time.time()
        try:
            result = request_once(
                self.address,
                profile.method,
                path,
                connect_timeout_s=profile.connect_timeout_s,
                timeout_s=profile.timeout_s,
                until_eof=profile.client_close == "after_eof",
                headers_only=profile.client_close == "after_headers_unread",
            )
        except GreenletExit:
            # Killed mid-request when the run time ends: its SYN is already on the wire, so
            # it still counts as a request (connections in the capture == requests made).
            self.environment.events.request.fire(
                request_type=profile.method,
                name=path,
                response_time=(time.time() - start) * 1000,
                response_length=0,
                exception=RequestFailed("interrupted", "stopped by the run-time limit"),
                context={"closebench": {"start": start, "local_port": ""}},
            )
            raise
        self.environment.events.request.fire(
            request_type=profile.method,
            name=path,
            response_time=result.latency_ms,
            response_length=result.response_bytes,
            exception=result.error,
            context={
                "closebench": {"start": result.start_epoch_s, "local_port": result.local_port}
            },
        )
