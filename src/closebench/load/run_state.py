"""One locust process's part in a cell's load: what it plays, and where the run stands.

The locustfile runs with its profile in the environment (closebench.load.locust_command):
  CLOSEBENCH_PROFILE       path of the load profile (TOML); default: seed-1s
  CLOSEBENCH_REQUESTS_CSV  where one row per request goes (the only process, or the master,
                           writes its parts; workers send theirs to the master)
  CLOSEBENCH_PROCESSES     how many locust processes share the profile's max_requests
  CLOSEBENCH_RUN_TIME_S    the load phase length (the ramp shape stops at it)
  CLOSEBENCH_WORKER_DEVICE on a `closebench load-worker`: the only address it may load
A remote worker has none of them: it adopts the master's settings at test_start
(closebench.load.worker_messages).
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import gevent
from locust.runners import WorkerRunner

from closebench.load import worker_messages
from closebench.load.profiles import LoadProfile, load_profile, load_profile_file
from closebench.load.request_log import RequestLog
from closebench.load.worker_messages import WorkerRecords

# No new request in the last moments of the run: locust kills users when -t runs out, and a
# request cut off after its SYN would be a connection without a recorded request.
# A request lasts ms on the bench, up to seconds on a lossy link (SYN retransmission).
LAST_START_MARGIN_S = 1.5


class RunState:
    """The profile this process plays and the run's clock, budget and requests in flight."""

    def __init__(
        self, profile: LoadProfile, *, processes: int, run_time_s: float, requests_csv: str | None
    ) -> None:
        self.profile = profile
        self.processes = processes  # locust processes sharing the profile's max_requests
        self.run_time_s = run_time_s
        self.requests = RequestLog(requests_csv)
        self.workers = WorkerRecords(self.requests)  # on the master: what each worker sent
        self.environment: Any = None  # locust's Environment, from its init event
        self.started_at = 0.0  # time.monotonic() at test_start
        self.last_start_at = math.inf  # no request starts after this (time.monotonic())
        self.in_flight = 0  # this process's requests between their start and their row
        self.refused: str | None = None  # on a worker: why it will not send load
        self.budget_left: int | None = None  # this process's share of max_requests, once known

    @classmethod
    def from_environ(cls) -> RunState:
        path = os.environ.get("CLOSEBENCH_PROFILE")
        profile = load_profile_file(path) if path else load_profile("seed-1s")
        return cls(
            profile,
            processes=max(1, int(os.environ.get("CLOSEBENCH_PROCESSES", "1"))),
            run_time_s=float(os.environ.get("CLOSEBENCH_RUN_TIME_S", profile.run_time_s)),
            requests_csv=os.environ.get("CLOSEBENCH_REQUESTS_CSV"),
        )

    def is_worker(self) -> bool:
        env = self.environment
        return env is not None and isinstance(env.runner, WorkerRunner)

    def adopt(self, profile: LoadProfile, run_time_s: float, processes: int) -> None:
        """On a remote worker: play what the master plays."""
        self.profile, self.run_time_s, self.processes = profile, run_time_s, processes

    def start(self) -> None:
        self.started_at = time.monotonic()
        self.last_start_at = self.started_at + self.run_time_s - LAST_START_MARGIN_S

    def stop_starting(self, at: float) -> None:
        """Start no request after `at` (time.monotonic())."""
        self.last_start_at = at

    def may_start_request(self, environment: Any) -> bool:
        """Not refused, not past the last start, and the budget has one more request."""
        if self.refused or time.monotonic() > self.last_start_at:
            return False
        return self._take_from_budget(environment)

    def _take_from_budget(self, environment: Any) -> bool:
        if self.budget_left is None:
            runner = environment.runner
            index = runner.worker_index if isinstance(runner, WorkerRunner) else 0
            share, extra = divmod(self.profile.max_requests, self.processes)
            self.budget_left = share + (1 if index < extra else 0)
        if self.budget_left <= 0:
            return False
        self.budget_left -= 1
        return True

    def log_request(self, row: str) -> None:
        if self.requests.target is None and not self.is_worker():
            return
        if self.requests.add(row):
            self.flush_requests()

    def flush_requests(self, done: bool = False, in_flight: int = 0) -> None:
        """Write the buffered rows, or on a worker send them to the master (`done`: the last
        ones; `in_flight`: requests still running that will have no row)."""
        if not self.is_worker():
            self.requests.write_own_rows()
            return
        rows = self.requests.take_for_sending()
        if rows or done:
            worker_messages.send_rows(
                self.environment.runner,
                rows,
                sent=self.requests.sent,
                done=done,
                in_flight=in_flight,
                refused=self.refused,
            )

    def send_last_rows(self, environment: Any, msg: Any, **_: Any) -> None:
        """On a worker, the FLUSH_MESSAGE listener: start no new request, let the ones in
        flight end, send the rest."""
        self.stop_starting(-math.inf)
        end = time.monotonic() + self.profile.longest_request_s + 1
        while self.in_flight and time.monotonic() < end:
            gevent.sleep(0.05)
        self.flush_requests(done=True, in_flight=self.in_flight)
