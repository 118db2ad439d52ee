"""The laptop's side of the bench: users that open one new TCP connection per request.

Run through `closebench.load.profiles.locust_command`, which passes the profile in the environment:
  CLOSEBENCH_PROFILE       path of the load profile (TOML); default: seed-1s
  CLOSEBENCH_REQUESTS_CSV  where one row per request goes (the only process, or the master,
                           writes its parts; workers send theirs to the master)
  CLOSEBENCH_PROCESSES     how many locust processes share the profile's max_requests
  CLOSEBENCH_RUN_TIME_S    the load phase length (the ramp shape stops at it)
  CLOSEBENCH_WORKER_DEVICE on a `closebench load-worker`: the only address it may load

Users:
  SeedUser       the original ESP8266 test: `HEAD /` on a new connection, at a fixed pace.
  LedToggleUser  an app that does something per request: GET /?led=on, /?led=off, ...
Shape:
  StepRamp       defined only when the profile has a [ramp] table (locust uses the first
                 LoadTestShape it finds in the locustfile, so it must not always exist).
Distributed (closebench.load.spread): a worker has none of the variables above. The master
forwards the profile's text, the run time, the worker count and closebench's version as
custom options with its spawn message; each worker adopts them at test_start, before its users
start. Workers send their requests.csv rows to the master as custom messages; when the load is
over the master asks every worker for its last rows and waits for them before it quits, so the
rows of every process end up in the cell folder on the capture host.
"""

from __future__ import annotations

import csv
import itertools
import logging
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
from gevent import GreenletExit
from locust import LoadTestShape, User, constant_pacing, events, task
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from closebench import __version__
from closebench.load.client import RequestFailed
from closebench.load.green_client import request_once
from closebench.load.profiles import (
    REQUESTS_COLUMNS,
    LoadProfile,
    load_profile,
    load_profile_file,
    profile_from_text,
)
from closebench.schema import write_json


def _profile() -> LoadProfile:
    path = os.environ.get("CLOSEBENCH_PROFILE")
    return load_profile_file(path) if path else load_profile("seed-1s")


# What this process plays. A remote worker starts with the default and adopts the master's
# settings at test_start (_adopt_master_settings).
PROFILE = _profile()
PROCESSES = max(1, int(os.environ.get("CLOSEBENCH_PROCESSES", "1")))
RUN_TIME_S = float(os.environ.get("CLOSEBENCH_RUN_TIME_S", PROFILE.run_time_s))
ROWS_MESSAGE = "closebench_rows"  # worker -> master: requests.csv rows
FLUSH_MESSAGE = "closebench_flush"  # master -> worker: the load is over, send the rest
ROWS_HEADER = ",".join(REQUESTS_COLUMNS) + "\n"


class RequestLog:
    """requests.csv rows, buffered: a write per request would cost more than the request.
    The only process, or the master, writes them to a part file of its own; a worker sends
    them to the master."""

    FLUSH_ROWS = 5000

    def __init__(self, target: str | None) -> None:
        self.target = target
        self.rows: list[str] = []
        self.parts: dict[str, Any] = {}  # open part files, kept open for the whole run
        self.lock = threading.Lock()
        self.sent = 0

    def add(self, row: str) -> None:
        if self.target is None and not _is_worker():
            return
        self.rows.append(row)
        if len(self.rows) >= self.FLUSH_ROWS:
            self.flush()

    def flush(self, done: bool = False, in_flight: int = 0) -> None:
        if _is_worker():
            rows, self.rows = self.rows, []
            self.sent += len(rows)
            if rows or done:
                _ENV["environment"].runner.send_message(
                    ROWS_MESSAGE,
                    {"rows": rows, "host": socket.gethostname(), "sent_epoch_s": time.time(),
                     "done": done, "requests": self.sent, "in_flight": in_flight,
                     "refused": REFUSED[0] if REFUSED else None},
                )  # fmt: skip
            return
        if self.target is None or not self.rows:
            return
        with self.lock:
            rows, self.rows = self.rows, []
            self.write_part(str(os.getpid()), rows)

    def write_part(self, part: str, rows: list[str]) -> None:
        """Append rows to requests.csv.part-<part> (finalize_load_outputs merges the parts)."""
        fh = self.parts.get(part)
        if fh is None:
            fh = self.parts[part] = Path(f"{self.target}.part-{part}").open("w")  # noqa: SIM115
            fh.write(ROWS_HEADER)
        fh.write("".join(rows))
        fh.flush()


REQUEST_LOG = RequestLog(os.environ.get("CLOSEBENCH_REQUESTS_CSV"))


def _is_worker() -> bool:
    env = _ENV.get("environment")
    return env is not None and isinstance(env.runner, WorkerRunner)


# --- distributed: settings from the master, rows back to it ---------------------------------

WORKERS: dict[str, dict[str, Any]] = {}  # on the master: what each worker sent
REFUSED: list[str] = []  # on a worker: why it will not send load


@events.init.add_listener
def _wire_messages(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        # Custom options travel to the workers with the spawn message (locust forwards every
        # option that is not one of its own).
        opts = environment.parsed_options
        opts.closebench_profile_text = Path(PROFILE.path).read_text()
        opts.closebench_profile_file = Path(PROFILE.path).name
        opts.closebench_run_time_s = RUN_TIME_S
        opts.closebench_workers = PROCESSES
        opts.closebench_version = __version__
        runner.register_message(ROWS_MESSAGE, _receive_rows)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(FLUSH_MESSAGE, _send_last_rows, concurrent=True)


@events.test_start.add_listener
def _adopt_master_settings(environment: Any, **_: Any) -> None:
    """On a worker: play the master's profile, run time and share, or refuse to load."""
    global PROFILE, RUN_TIME_S, PROCESSES
    if not isinstance(environment.runner, WorkerRunner):
        return
    opts = environment.parsed_options
    text = getattr(opts, "closebench_profile_text", None)
    theirs = getattr(opts, "closebench_version", None)
    allowed = os.environ.get("CLOSEBENCH_WORKER_DEVICE")
    target = urlsplit(environment.host or "").hostname
    if text is None:
        REFUSED.append("the master sent no closebench settings")
    elif theirs != __version__:
        REFUSED.append(f"closebench {__version__} on this worker, {theirs} on the master")
    elif allowed is not None and target != allowed:
        REFUSED.append(f"the master aims at {target}; this worker may load only {allowed}")
    if REFUSED:
        REQUEST_LOG.flush(done=True)
        return
    PROFILE = profile_from_text(text, Path(opts.closebench_profile_file))
    RUN_TIME_S = float(opts.closebench_run_time_s)
    PROCESSES = max(1, int(opts.closebench_workers))


def _worker_record(worker_id: str, host: str) -> dict[str, Any]:
    """The master's entry for a worker in load-workers.json, made on its first message."""
    return WORKERS.setdefault(
        worker_id, {"host": host, "requests": 0, "done": False, "clock_gap_s": []}
    )


def _receive_rows(environment: Any, msg: Any, **_: Any) -> None:
    data = msg.data
    info = _worker_record(msg.node_id, data["host"])
    # receive time minus send time: the transfer plus how far the worker's clock is behind
    # ours (requests.csv start times come from the worker's clock)
    gaps = [round(time.time() - data["sent_epoch_s"], 4), *info["clock_gap_s"]]
    info["clock_gap_s"] = [min(gaps), max(gaps)]
    if data.get("refused") and "refused" not in info:
        info["refused"] = data["refused"]
        environment.process_exit_code = 2
        logging.error("load worker %s (%s) refused: %s", msg.node_id, data["host"], data["refused"])
    if data["rows"] and REQUEST_LOG.target is not None:
        REQUEST_LOG.write_part(re.sub(r"[^A-Za-z0-9._-]", "_", msg.node_id), data["rows"])
    info["requests"] += len(data["rows"])
    # the worker's own count of rows it sent: more than `requests` means messages were lost
    info["requests_sent"] = data["requests"]
    info["done"] = info["done"] or data["done"]
    info["in_flight_at_end"] = data["in_flight"]


@events.test_stopping.add_listener
def _before_the_master_stops(environment: Any, **_: Any) -> None:
    # Every way a distributed run ends passes here first: the budget or run time (our watch),
    # a ramp's shape ending the run, locust's -t bound.
    if isinstance(environment.runner, MasterRunner):
        _collect_last_rows(environment.runner)


def _ask_workers_for_last_rows(runner: Any) -> None:
    for client in runner.clients.all:
        runner.send_message(FLUSH_MESSAGE, None, client.id)


def _collect_last_rows(runner: Any) -> None:
    """On the master, before it quits: every worker's last rows (its in-flight requests may
    take up to connect + response timeout to end)."""
    _ask_workers_for_last_rows(runner)
    end = time.monotonic() + PROFILE.longest_request_s + 5
    ids = [client.id for client in runner.clients.all]
    while time.monotonic() < end and not all(WORKERS.get(i, {}).get("done") for i in ids):
        gevent.sleep(0.1)
    for i in ids:
        if not WORKERS.get(i, {}).get("done"):
            # in load-workers.json too when it never sent a row (locust's ids: HOST_uuid)
            _worker_record(i, i.rsplit("_", 1)[0])
            logging.error("load worker %s sent no last rows (gone?): requests.csv is short", i)


def _send_last_rows(environment: Any, msg: Any, **_: Any) -> None:
    """On a worker: start no new request, let the ones in flight end, send the rest."""
    DEADLINE[0] = float("-inf")
    end = time.monotonic() + PROFILE.longest_request_s + 1
    while IN_FLIGHT[0] and time.monotonic() < end:
        gevent.sleep(0.05)
    REQUEST_LOG.flush(done=True, in_flight=IN_FLIGHT[0])


def _write_worker_record(environment: Any) -> None:
    if REQUEST_LOG.target is None or not isinstance(environment.runner, MasterRunner):
        return
    write_json(Path(REQUEST_LOG.target).with_name("load-workers.json"), WORKERS)


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
               and time.monotonic() < end
               and not any("refused" in w for w in WORKERS.values())):  # fmt: skip
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
IN_FLIGHT = [0]  # this process's requests between their start and their row


START = [0.0]


@events.test_start.add_listener
def _set_deadline(**_: Any) -> None:
    START[0] = time.monotonic()
    DEADLINE[0] = START[0] + RUN_TIME_S - LAST_START_MARGIN_S


def profile_pacing(user: Any) -> float:
    """locust's constant pacing at the profile's interval, or at its phase's. Looked up at each
    wait: a remote worker adopts its profile at test_start, after this module was loaded."""
    if PROFILE.phases:
        return phased_pacing(user)
    return constant_pacing(PROFILE.interval_s)(user)


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
    wait_time = profile_pacing

    def on_start(self) -> None:
        url = urlsplit(self.host or "http://127.0.0.1:80")
        self.address = (url.hostname or "127.0.0.1", url.port or 80)
        self.paths = itertools.cycle(PROFILE.paths)

    def request(self, path: str) -> None:
        if REFUSED or time.monotonic() > DEADLINE[0] or not BUDGET.take(self.environment):
            raise StopUser()
        IN_FLIGHT[0] += 1
        try:
            self._request(path)
        finally:
            IN_FLIGHT[0] -= 1

    def _request(self, path: str) -> None:
        start = time.time()
        try:
            result = request_once(
                self.address,
                PROFILE.method,
                path,
                connect_timeout_s=PROFILE.connect_timeout_s,
                timeout_s=PROFILE.timeout_s,
                until_eof=PROFILE.client_close == "after_eof",
                headers_only=PROFILE.client_close == "after_headers_unread",
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
    _write_worker_record(env)
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
                if isinstance(self.runner, MasterRunner):
                    _ask_workers_for_last_rows(self.runner)  # their users stop starting too
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
