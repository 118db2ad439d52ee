"""Load from many processes or hosts: locust's distributed mode, so one board can be pushed
beyond what one client process, or one client host, can offer.

- `--locust-workers N`: locust's own `--processes N`, a master and N workers on this host.
- `--locust-master-bind HOST:PORT --locust-expect-workers K`: the master listens there and
  waits for K workers, which each load host starts with
  `closebench load-worker --master HOST:PORT --device ADDRESS`.

Either way the master forwards the profile, the run time and the worker count with its spawn
message (locust forwards custom options to its workers), and the workers send their
requests.csv rows back as locust custom messages: everything a cell keeps is written on the
capture host, and the capture itself never leaves it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from closebench.errors import UserError

# The master gives up on workers that have not joined after this long (locust's
# --expect-workers-max-wait): a worker host that is not there fails the cell, not the lab day.
DEFAULT_WORKER_WAIT_S = 120.0
MAX_WORKERS = 64
WILDCARDS = ("0.0.0.0", "*", "::", "[::]")


@dataclass(frozen=True)
class LoadSpread:
    """How one cell's load is spread over locust processes."""

    local_workers: int = 1  # locust --processes; 1: one process, no master
    master_bind: tuple[str, int] | None = None  # remote workers join a master bound here
    expect_workers: int = 0  # how many remote workers the master waits for
    worker_wait_s: float = DEFAULT_WORKER_WAIT_S

    def __post_init__(self) -> None:
        if not 1 <= self.local_workers <= MAX_WORKERS:
            raise UserError(f"load processes: must be 1..{MAX_WORKERS}, got {self.local_workers}")

    @property
    def remote(self) -> bool:
        return self.master_bind is not None

    @property
    def workers(self) -> int:
        """The processes that share the profile's max_requests."""
        return self.expect_workers if self.remote else self.local_workers

    def locust_args(self) -> list[str]:
        if self.master_bind is not None:
            host, port = self.master_bind
            return [
                "--master",
                "--master-bind-host",
                host,
                "--master-bind-port",
                str(port),
                "--expect-workers",
                str(self.expect_workers),
                "--expect-workers-max-wait",
                f"{self.worker_wait_s:g}",
            ]
        return ["--processes", str(self.local_workers)] if self.local_workers > 1 else []

    def record(self) -> dict[str, Any]:
        """The run manifest's account of the load's spread."""
        if self.master_bind is None:
            return {"mode": "local", "workers": self.local_workers}
        return {
            "mode": "remote",
            "master_bind": f"{self.master_bind[0]}:{self.master_bind[1]}",
            "workers": self.expect_workers,
            "worker_wait_s": self.worker_wait_s,
        }


SINGLE = LoadSpread()


def parse_host_port(text: str, option: str) -> tuple[str, int]:
    """`HOST:PORT` (an IPv4 address or name, a port 1..65535); errors name the option."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"{option} {text!r}: expected HOST:PORT, e.g. 192.168.50.2:5557")
    return host, int(port)


def load_spread(
    *,
    local_workers: int | None,
    master_bind: str | None,
    expect_workers: int | None,
    worker_wait_s: float = DEFAULT_WORKER_WAIT_S,
) -> LoadSpread:
    """The spread the command line asks for, or a one-line refusal naming the option."""
    if master_bind is None:
        if expect_workers is not None:
            raise UserError("--locust-expect-workers needs --locust-master-bind HOST:PORT")
        workers = 1 if local_workers is None else local_workers
        if not 1 <= workers <= MAX_WORKERS:
            raise UserError(f"--locust-workers: must be 1..{MAX_WORKERS}, got {workers}")
        return LoadSpread(local_workers=workers)
    if local_workers is not None:
        raise UserError(
            "--locust-workers and --locust-master-bind: one or the other (to use this host's "
            "CPU as well, start a `closebench load-worker` here too)"
        )
    if expect_workers is None or not 1 <= expect_workers <= MAX_WORKERS:
        raise UserError(
            f"--locust-master-bind needs --locust-expect-workers K (1..{MAX_WORKERS}): how many "
            "load hosts join"
        )
    if not worker_wait_s > 0:
        raise UserError(f"--locust-worker-wait: must be > 0 s, got {worker_wait_s:g}")
    bind = parse_host_port(master_bind, "--locust-master-bind")
    if bind[0] in WILDCARDS:
        raise UserError(
            f"--locust-master-bind {master_bind}: binds every interface; give this host's "
            "address on the lab network (locust's worker protocol is not authenticated)"
        )
    return LoadSpread(
        master_bind=bind,
        expect_workers=expect_workers,
        worker_wait_s=worker_wait_s,
    )


def load_failure(spread: LoadSpread, cell_dir: Path) -> str | None:
    """Why a spread load did not run as asked, from the cell's load-workers.json (the master's
    record of each worker, written by the locustfile), or None."""
    if spread.workers == 1 and not spread.remote:
        return None
    path = cell_dir / "load-workers.json"
    workers: dict[str, dict[str, Any]] = json.loads(path.read_text()) if path.exists() else {}
    if len(workers) < spread.workers:
        return (
            f"{len(workers)} of the {spread.workers} load workers joined "
            f"(see {cell_dir / 'locust.log'})"
        )
    for wid, worker in sorted(workers.items()):
        if worker.get("refused"):
            return f"load worker {wid} ({worker['host']}) refused: {worker['refused']}"
    for wid, worker in sorted(workers.items()):
        if not worker["done"]:
            return (
                f"load worker {wid} ({worker['host']}) sent no last rows (gone?): "
                "requests.csv is short"
            )
    return None
