"""The laptop's side of the bench: users that open one new TCP connection per request.

Run through `closebench.load.profiles.locust_command`, which passes the profile in the environment:
  CLOSEBENCH_PROFILE       path of the load profile (TOML); default: seed-1s
  CLOSEBENCH_REQUESTS_CSV  where one row per request goes (each process writes a part)
  CLOSEBENCH_PROCESSES     how many locust processes share the profile's max_requests
  CLOSEBENCH_RUN_TIME_S    the load phase length (the ramp shape stops at it)

Users:
  SeedUser       the original ESP8266 test: `HEAD /` on a new connection, at a fixed pace.
  LedToggleUser  an app that does something per request: GET /?led=on, /?led=off, ...
Shape:
  StepRamp       defined only when the profile has a [ramp] table (locust uses the first
                 LoadTestShape it finds in the locustfile, so it must not always exist).
"""

from __future__ import annotations

import csv
import itertools
import os
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
from gevent import GreenletExit
from locust import LoadTestShape, User, constant_pacing, events, task
from locust.exception import StopUser
from locust.runners import WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from closebench.load.client import RequestFailed
from closebench.load.green_client import request_once
from closebench.load.profiles import LoadProfile, load_profile, load_profile_file


def _profile() -> LoadProfile:
    path = os.environ.get("CLOSEBENCH_PROFILE")
    return load_profile_file(path) if path else load_profile("seed-1s")


PROFILE = _profile()
PROCESSES = max(1, int(os.environ.get("CLOSEBENCH_PROCESSES", "1")))
RUN_TIME_S = float(os.environ.get("CLOSEBENCH_RUN_TIME_S", PROFILE.run_time_s))


class RequestLog:
    """requests.csv rows, buffered: a write per request would cost more than the request."""

    FLUSH_ROWS = 5000

    def __init__(self, target: str | None) -> None:
        self.target = target
        self.rows: list[str] = []
        self.file: Any = None
        self.lock = threading.Lock()

    def add(self, row: str) -> None:
        if self.target is None:
            return
        self.rows.append(row)
        if len(self.rows) >= self.FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.target is None or not self.rows:
            return
        with self.lock:
            if self.file is None:
                # One part per process, named when first written: --processes forks the
                # workers after this module is imported, so the pid is not known before.
                # finalize_load_outputs merges the parts.
                # Kept open for the whole run (closed at exit): one handle per process.
                self.file = Path(f"{self.target}.part-{os.getpid()}").open("w")  # noqa: SIM115
                self.file.write("start_epoch_s,latency_ms,ok,error_kind,local_port,name\n")
            rows, self.rows = self.rows, []
            self.file.write("".join(rows))
            self.file.flush()


REQUEST_LOG = RequestLog(os.environ.get("CLOSEBENCH_REQUESTS_CSV"))


@events.request.add_listener
def _log_request(
    name: str, response_time: float, exception: Exception | None, context: dict, **_: Any
) -> None:
    info = context.get("closebench")
    if info is None:
        return
    kind = getattr(exception, "kind", "other") if exception else ""
    REQUEST_LOG.add(
        f"{info['start']:.6f},{response_time:.3f},{0 if exception else 1},{kind},"
        f"{info['local_port']},{name}\n"
    )


@events.test_stop.add_listener
@events.quitting.add_listener
def _flush_requests(**_: Any) -> None:
    REQUEST_LOG.flush()


class Budget:
    """This process's share of the profile's max_requests: a hard bound on requests."""

    def __init__(self) -> None:
        self.left: int | None = None

    def take(self, environment: Any) -> bool:
        if self.left is None:
            runner = environment.runner
            index = runner.worker_index if isinstance(runner, WorkerRunner) else 0
            share, extra = divmod(PROFILE.max_requests, PROCESSES)
            self.left = share + (1 if index < extra else 0)
        if self.left <= 0:
            return False
        self.left -= 1
        return True


@events.test_start.add_listener
def _quit_when_budget_spent(environment: Any, **_: Any) -> None:
    # Users stop themselves when their process's share is spent; the master (or the only
    # process) ends the run once every request has been counted. Quitting a worker instead
    # would lose its last stats report, and the master would move its users elsewhere.
    if isinstance(environment.runner, WorkerRunner):
        return

    def watch() -> None:
        # End at the profile's run time by the real clock (locust's -t is a looser bound):
        # users stopped starting requests LAST_START_MARGIN_S before, so none is cut off.
        end = time.monotonic() + RUN_TIME_S
        while (environment.stats.total.num_requests < PROFILE.max_requests
               and time.monotonic() < end):  # fmt: skip
            gevent.sleep(0.1)
        environment.runner.quit()

    gevent.spawn(watch)


BUDGET = Budget()
# No new request in the last moments of the run: locust kills users when -t runs out, and a
# request cut off after its SYN would be a connection without a recorded request.
# A request lasts ms on the bench, up to seconds on a lossy link (SYN retransmission).
LAST_START_MARGIN_S = 1.5
RAMP_GRACE_S = 2.0  # a ramp that found its answer lets requests in flight finish
DEADLINE = [float("inf")]


START = [0.0]


@events.test_start.add_listener
def _set_deadline(**_: Any) -> None:
    START[0] = time.monotonic()
    DEADLINE[0] = START[0] + RUN_TIME_S - LAST_START_MARGIN_S


def phased_pacing(user: Any) -> float:
    """constant_pacing with the interval of the profile's phase at this moment of the run."""
    now = time.monotonic()
    interval = PROFILE.interval_at(now - START[0], RUN_TIME_S)
    last_run = getattr(user, "_cb_last_run", None)
    ran = now - last_run - user._cb_last_wait if last_run is not None else 0.0
    user._cb_last_wait = max(0.0, interval - ran)
    user._cb_last_run = now
    return user._cb_last_wait


class ClosePerRequestUser(User):
    """Base: one new TCP connection per request, paths in rotation, constant pacing."""

    abstract = True
    # a profile with phases changes its pacing during the run (the original test's 1 s, 0.2 s)
    wait_time = phased_pacing if PROFILE.phases else constant_pacing(PROFILE.interval_s)

    def on_start(self) -> None:
        url = urlsplit(self.host or "http://127.0.0.1:80")
        self.address = (url.hostname or "127.0.0.1", url.port or 80)
        self.paths = itertools.cycle(PROFILE.paths)

    def request(self, path: str) -> None:
        if time.monotonic() > DEADLINE[0] or not BUDGET.take(self.environment):
            raise StopUser()
        start = time.time()
        try:
            result = request_once(
                self.address,
                PROFILE.method,
                path,
                connect_timeout_s=PROFILE.connect_timeout_s,
                timeout_s=PROFILE.timeout_s,
                until_eof=PROFILE.client_close == "after_eof",
            )
        except GreenletExit:
            # Killed mid-request when the run time ends: its SYN is already on the wire, so
            # it still counts as a request (connections in the capture == requests made).
            self.environment.events.request.fire(
                request_type=PROFILE.method,
                name=path,
                response_time=(time.time() - start) * 1000,
                response_length=0,
                exception=RequestFailed("interrupted", "stopped by the run-time limit"),
                context={"closebench": {"start": start, "local_port": ""}},
            )
            raise
        self.environment.events.request.fire(
            request_type=PROFILE.method,
            name=path,
            response_time=result.latency_ms,
            response_length=result.response_bytes,
            exception=result.error,
            context={
                "closebench": {"start": result.start_epoch_s, "local_port": result.local_port}
            },
        )


class SeedUser(ClosePerRequestUser):
    """The original test's laptop: `HEAD /` on a new connection every interval."""

    @task
    def head(self) -> None:
        self.request(next(self.paths))


class LedToggleUser(ClosePerRequestUser):
    """Toggles the device's LED: the profile's paths (led=on, led=off) in turn."""

    @task
    def toggle(self) -> None:
        self.request(next(self.paths))


@events.quit.add_listener
def _final_stats(**_: Any) -> None:
    # locust rewrites load_stats.csv once a second but not at exit, so the last second of
    # requests is missing there; write the final table beside it (finalize_load_outputs
    # prefers it). `quit` fires after the runner stopped and the workers reported.
    env = _ENV.get("environment")
    prefix = getattr(getattr(env, "parsed_options", None), "csv_prefix", None)
    if env is None or not prefix or isinstance(env.runner, WorkerRunner):
        return
    writer = StatsCSV(env, PERCENTILES_TO_REPORT)
    for suffix, write in (("stats", writer.requests_csv), ("failures", writer.failures_csv)):
        with open(f"{prefix}_{suffix}.final.csv", "w", newline="") as fh:
            write(csv.writer(fh))


_ENV: dict[str, Any] = {}


@events.init.add_listener
def _keep_environment(environment: Any, **_: Any) -> None:
    _ENV["environment"] = environment


@events.test_stop.add_listener
def _exit_code(environment: Any, **_: Any) -> None:
    # A run where nothing succeeded is a broken bench, not a measurement: exit 1.
    if isinstance(environment.runner, WorkerRunner):
        return  # the master (or the only process) judges the whole run
    total = environment.stats.total
    if total.num_requests and total.num_failures == total.num_requests:
        environment.process_exit_code = 1


if PROFILE.ramp is not None:
    RAMP = PROFILE.ramp

    class StepRamp(LoadTestShape):
        """Add step_users every step_s until a step fails or the ceiling has run one step."""

        def __init__(self) -> None:
            super().__init__()
            self.step_start = (0, 0)  # (requests, failures) at the start of this step
            self.step = 0
            self.stop_at: float | None = None
            self.users = PROFILE.users

        def _stop(self, run_time: float) -> tuple[int, float] | None:
            # Stop starting requests first and end the shape a little later, so no request
            # is cut off after its SYN (connections in the capture == requests made).
            if self.stop_at is None:
                DEADLINE[0] = time.monotonic()
                self.stop_at = run_time + RAMP_GRACE_S
            return None if run_time >= self.stop_at else (self.users, PROFILE.spawn_rate)

        def tick(self) -> tuple[int, float] | None:
            run_time = self.get_run_time()
            if self.stop_at is not None or run_time >= RUN_TIME_S:
                return self._stop(run_time)
            step = int(run_time // RAMP.step_s)
            if step != self.step:
                total = self.runner.stats.total
                done = total.num_requests - self.step_start[0]
                failed = total.num_failures - self.step_start[1]
                if done and failed / done > RAMP.stop_fail_ratio:
                    return self._stop(run_time)  # the previous step saw failures: the answer
                users_then = PROFILE.users + self.step * RAMP.step_users
                if users_then >= RAMP.max_users:
                    return self._stop(run_time)  # the ceiling ran a full step without failing
                self.step = step
                self.step_start = (total.num_requests, total.num_failures)
            self.users = min(PROFILE.users + step * RAMP.step_users, RAMP.max_users)
            return self.users, PROFILE.spawn_rate
