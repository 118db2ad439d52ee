"""Distributed load: the master's settings go to its workers, their requests.csv rows come back.

A worker has none of the locustfile's environment variables. The master forwards the
profile's text, the run time, the worker count and closebench's version as custom options
with its spawn message (locust forwards every option that is not one of its own); each worker
adopts them at test_start, before its users start, or refuses to load. Workers send their
requests.csv rows to the master as custom messages; when the load is over the master asks
every worker for its last rows and waits for them before it quits, so the rows of every
process end up in the cell folder on the capture host.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent

from closebench import __version__
from closebench.load.profiles import LoadProfile, profile_from_text
from closebench.load.request_log import RequestLog
from closebench.schema import write_json

ROWS_MESSAGE = "closebench_rows"  # worker -> master: requests.csv rows
FLUSH_MESSAGE = "closebench_flush"  # master -> worker: the load is over, send the rest


# --- on the master ----------------------------------------------------------------------------


def forward_settings(options: Any, profile: LoadProfile, run_time_s: float, workers: int) -> None:
    """Put what the workers play among the options the spawn message carries."""
    options.closebench_profile_text = Path(profile.path).read_text()
    options.closebench_profile_file = Path(profile.path).name
    options.closebench_run_time_s = run_time_s
    options.closebench_workers = workers
    options.closebench_version = __version__


def ask_for_last_rows(runner: Any) -> None:
    for client in runner.clients.all:
        runner.send_message(FLUSH_MESSAGE, None, client.id)


class WorkerRecords:
    """The master's record of each worker, written as load-workers.json (read by
    closebench.load.spread.load_failure); the rows they send go to `requests`."""

    def __init__(self, requests: RequestLog) -> None:
        self.requests = requests
        self.by_id: dict[str, dict[str, Any]] = {}

    def record(self, worker_id: str, host: str) -> dict[str, Any]:
        """A worker's entry, made on its first message."""
        return self.by_id.setdefault(
            worker_id, {"host": host, "requests": 0, "done": False, "clock_gap_s": []}
        )

    def any_refused(self) -> bool:
        return any("refused" in w for w in self.by_id.values())

    def done(self, worker_id: str) -> bool:
        return bool(self.by_id.get(worker_id, {}).get("done"))

    def receive_rows(self, environment: Any, msg: Any, **_: Any) -> None:
        """The ROWS_MESSAGE listener."""
        data = msg.data
        info = self.record(msg.node_id, data["host"])
        # receive time minus send time: the transfer plus how far the worker's clock is behind
        # ours (requests.csv start times come from the worker's clock)
        gaps = [round(time.time() - data["sent_epoch_s"], 4), *info["clock_gap_s"]]
        info["clock_gap_s"] = [min(gaps), max(gaps)]
        if data.get("refused") and "refused" not in info:
            info["refused"] = data["refused"]
            environment.process_exit_code = 2
            logging.error(
                "load worker %s (%s) refused: %s", msg.node_id, data["host"], data["refused"]
            )
        if data["rows"] and self.requests.target is not None:
            self.requests.write_part(re.sub(r"[^A-Za-z0-9._-]", "_", msg.node_id), data["rows"])
        info["requests"] += len(data["rows"])
        # the worker's own count of rows it sent: more than `requests` means messages were lost
        info["requests_sent"] = data["requests"]
        info["done"] = info["done"] or data["done"]
        info["in_flight_at_end"] = data["in_flight"]

    def collect_last_rows(self, runner: Any, longest_request_s: float) -> None:
        """Before the master quits: every worker's last rows (its in-flight requests may take
        up to `longest_request_s`, connect + response timeout, to end)."""
        ask_for_last_rows(runner)
        end = time.monotonic() + longest_request_s + 5
        ids = [client.id for client in runner.clients.all]
        while time.monotonic() < end and not all(self.done(i) for i in ids):
            gevent.sleep(0.1)
        for i in ids:
            if not self.done(i):
                # in load-workers.json too when it never sent a row (locust's ids: HOST_uuid)
                self.record(i, i.rsplit("_", 1)[0])
                logging.error("load worker %s sent no last rows (gone?): requests.csv is short", i)

    def write(self) -> None:
        """load-workers.json beside requests.csv."""
        if self.requests.target is not None:
            write_json(Path(self.requests.target).with_name("load-workers.json"), self.by_id)


# --- on a worker ------------------------------------------------------------------------------


def refusal(environment: Any) -> str | None:
    """Why this worker will not play what the master sent, or None."""
    options = environment.parsed_options
    theirs = getattr(options, "closebench_version", None)
    allowed = os.environ.get("CLOSEBENCH_WORKER_DEVICE")  # `closebench load-worker --device`
    target = urlsplit(environment.host or "").hostname
    if getattr(options, "closebench_profile_text", None) is None:
        return "the master sent no closebench settings"
    if theirs != __version__:
        return f"closebench {__version__} on this worker, {theirs} on the master"
    if allowed is not None and target != allowed:
        return f"the master aims at {target}; this worker may load only {allowed}"
    return None


def master_settings(options: Any) -> tuple[LoadProfile, float, int]:
    """The profile, run time and worker count the master forwarded (see forward_settings)."""
    profile = profile_from_text(
        options.closebench_profile_text, Path(options.closebench_profile_file)
    )
    return profile, float(options.closebench_run_time_s), max(1, int(options.closebench_workers))


def send_rows(
    runner: Any, rows: list[str], *, sent: int, done: bool, in_flight: int, refused: str | None
) -> None:
    """Rows to the master; `done`: the last ones (`sent` counts every row sent so far)."""
    runner.send_message(
        ROWS_MESSAGE,
        {"rows": rows, "host": socket.gethostname(), "sent_epoch_s": time.time(),
         "done": done, "requests": sent, "in_flight": in_flight, "refused": refused},
    )  # fmt: skip
