"""The headless locust command that plays a load profile, and a distributed worker's command.

Run the command with its extra environment (the locustfile reads the profile from it), then
call `closebench.load.outputs.finalize_load_outputs` on its output folder.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from urllib.parse import urlsplit

from closebench.errors import UserError
from closebench.load.profiles import MAX_RUN_TIME_S, LoadProfile
from closebench.load.spread import SINGLE, LoadSpread
from closebench.paths import benchmarks_dir

RUN_TIME_SAFETY_S = 15


def locustfile_path() -> Path:
    return benchmarks_dir() / "locustfile.py"


def _host_url(host: str) -> str:
    """`198.18.0.2`, `198.18.0.2:80` or `http://198.18.0.2:80` -> `http://198.18.0.2:80`."""
    url = host if "://" in host else f"http://{host}"
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise UserError(f"load host {host!r}: expected HOST[:PORT] or http://HOST[:PORT]")
    return f"http://{parts.hostname}:{parts.port or 80}"


def locust_command(
    profile: LoadProfile,
    *,
    host: str,
    out_dir: Path,
    run_time_s: float | None = None,
    spread: LoadSpread = SINGLE,
) -> tuple[list[str], dict[str, str]]:
    """argv and extra environment for a headless locust run of `profile` against `host`.

    Run it with the returned variables added to the environment, then call
    `finalize_load_outputs(out_dir)`. `spread` (closebench.load.spread): one process, locust's
    own `--processes N` for rates one gevent loop cannot reach, or a master that workers on
    other hosts join (`locust_worker_command`).
    """
    run_time = profile.run_time_s if run_time_s is None else run_time_s
    if not 0 < run_time <= MAX_RUN_TIME_S:
        raise UserError(f"load run time: must be in (0, {MAX_RUN_TIME_S:g}] s, got {run_time}")
    out_dir = Path(out_dir)
    # Let in-flight requests finish when time is up, so every SYN in the capture has its
    # row in requests.csv.
    stop_timeout = math.ceil(profile.longest_request_s + 1)
    argv = [
        *_locust(),
        "--headless",
        "--host",
        _host_url(host),
        "-u",
        str(profile.users),
        "-r",
        f"{profile.spawn_rate:g}",
        # The locustfile ends the run itself at run_time (by the real clock). -t is only a
        # safety bound: locust's own timer runs on gevent's cached loop clock, measured here
        # firing 3.5 s early (56.5 s of 60) when 16 cells started at once.
        "-t",
        f"{max(1, math.ceil(run_time)) + RUN_TIME_SAFETY_S}s",
        "--stop-timeout",
        f"{stop_timeout}s",
        "--csv",
        str(out_dir / "load"),
        "--csv-full-history",
        "--only-summary",
    ]
    argv += spread.locust_args()
    argv.append(profile.user_class)
    env = {
        "CLOSEBENCH_PROFILE": str(profile.path),
        "CLOSEBENCH_REQUESTS_CSV": str(out_dir / "requests.csv"),
        "CLOSEBENCH_PROCESSES": str(spread.workers),
        "CLOSEBENCH_RUN_TIME_S": f"{run_time:g}",
    }
    return argv, env


def locust_worker_command(master: tuple[str, int]) -> list[str]:
    """argv of one locust worker joining `master` (it learns the rest from the master)."""
    host, port = master
    return [*_locust(), "--worker", "--master-host", host, "--master-port", str(port)]


def _locust() -> list[str]:
    """The start of every locust command: this Python, our locustfile, INFO logging."""
    return [sys.executable, "-m", "locust", "-f", str(locustfile_path()), "--loglevel", "INFO"]
