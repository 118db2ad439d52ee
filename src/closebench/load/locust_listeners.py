"""What closebench's load does at each of locust's events, for this process's run (`RUN`).

Imported with the user classes (closebench.load.locust_users), so a locustfile that uses them
gets all of it: the master/worker messages, the request log, the end of the run at its run
time or budget, the final stats and the exit code.
"""

from __future__ import annotations

import csv
import time
from typing import Any

import gevent
from locust import events
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from closebench.load.request_log import request_row
from closebench.load.run_state import RunState
from closebench.load.worker_messages import (
    FLUSH_MESSAGE,
    ROWS_MESSAGE,
    forward_settings,
    master_settings,
    refusal,
)

RUN = RunState.from_environ()


@events.init.add_listener
def _wire_messages(environment: Any, **_: Any) -> None:
    RUN.environment = environment
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        forward_settings(environment.parsed_options, RUN.profile, RUN.run_time_s, RUN.processes)
        runner.register_message(ROWS_MESSAGE, RUN.workers.receive_rows)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(FLUSH_MESSAGE, RUN.send_last_rows, concurrent=True)


@events.test_start.add_listener
def _adopt_master_settings(environment: Any, **_: Any) -> None:
    """On a worker: play the master's profile, run time and share, or refuse to load."""
    if not isinstance(environment.runner, WorkerRunner):
        return
    RUN.refused = RUN.refused or refusal(environment)
    if RUN.refused:
        RUN.flush_requests(done=True)
        return
    RUN.adopt(*master_settings(environment.parsed_options))


@events.test_start.add_listener
def _quit_when_budget_spent(environment: Any, **_: Any) -> None:
    # Users stop themselves when their process's share is spent; the master (or the only
    # process) ends the run once every request has been counted. Quitting a worker instead
    # would lose its last stats report, and the master would move its users elsewhere.
    if not isinstance(environment.runner, WorkerRunner):
        gevent.spawn(_quit_at_run_time_or_budget, environment)


def _quit_at_run_time_or_budget(environment: Any) -> None:
    # End at the profile's run time by the real clock (locust's -t is a looser bound):
    # users stopped starting requests LAST_START_MARGIN_S before, so none is cut off.
    end = time.monotonic() + RUN.run_time_s
    while (environment.stats.total.num_requests < RUN.profile.max_requests
           and time.monotonic() < end
           and not RUN.workers.any_refused()):  # fmt: skip
        gevent.sleep(0.1)
    environment.runner.quit()


@events.test_start.add_listener
def _start_the_clock(**_: Any) -> None:
    RUN.start()  # after _adopt_master_settings: a worker's run time is the master's


@events.request.add_listener
def _log_request(
    name: str, response_time: float, exception: Exception | None, context: dict, **_: Any
) -> None:
    info = context.get("closebench")
    if info is not None:
        RUN.log_request(
            request_row(name, response_time, exception, info["start"], info["local_port"])
        )


@events.test_stopping.add_listener
def _before_the_master_stops(environment: Any, **_: Any) -> None:
    # Every way a distributed run ends passes here first: the budget or run time (our watch),
    # a ramp's shape ending the run, locust's -t bound.
    if isinstance(environment.runner, MasterRunner):
        RUN.workers.collect_last_rows(environment.runner, RUN.profile.longest_request_s)


@events.test_stop.add_listener
@events.quitting.add_listener
def _flush_requests(**_: Any) -> None:
    RUN.flush_requests()


@events.test_stop.add_listener
def _exit_code(environment: Any, **_: Any) -> None:
    # A run where nothing succeeded is a broken bench, not a measurement: exit 1.
    if isinstance(environment.runner, WorkerRunner):
        return  # the master (or the only process) judges the whole run
    total = environment.stats.total
    if total.num_requests and total.num_failures == total.num_requests:
        environment.process_exit_code = 1


@events.quit.add_listener
def _final_stats(**_: Any) -> None:
    # locust rewrites load_stats.csv once a second but not at exit, so the last second of
    # requests is missing there; write the final table beside it (finalize_load_outputs
    # prefers it). `quit` fires after the runner stopped and the workers reported.
    env = RUN.environment
    prefix = getattr(getattr(env, "parsed_options", None), "csv_prefix", None)
    if env is None or not prefix or isinstance(env.runner, WorkerRunner):
        return
    if isinstance(env.runner, MasterRunner):
        RUN.workers.write()
    writer = StatsCSV(env, PERCENTILES_TO_REPORT)
    for suffix, write in (("stats", writer.requests_csv), ("failures", writer.failures_csv)):
        with open(f"{prefix}_{suffix}.final.csv", "w", newline="") as fh:
            write(csv.writer(fh))
