"""`closebench load-worker`: this host adds its client CPU to a hardware run's load.

On the capture host: `closebench run --backend hardware ... --locust-master-bind HOST:PORT
--locust-expect-workers K`. Each cell there starts a locust master; here, one locust worker per
cell joins it, plays the master's profile against the one device address given with
--device (a master aiming anywhere else is refused before a packet is sent), sends its
request rows to the master and ends when the master does. The command stops after --cells
cells, or when a worker finds no master (locust gives up after 5 minutes).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from closebench.errors import UserError
from closebench.hardware.safety import check_worker_device
from closebench.load.locust_command import locust_worker_command
from closebench.load.profiles import MAX_RUN_TIME_S
from closebench.load.spread import parse_host_port

# After a worker ends, its master is still quitting for about a second (locust sleeps 0.5 s
# for the last reports): the next cell's worker must not knock on that one.
BETWEEN_CELLS_S = 3.0
MAX_CELLS = 10_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "load-worker",
        help="join a hardware run's load from this host (a locust worker per cell)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--master", required=True, metavar="HOST:PORT", help="the run's master")
    p.add_argument(
        "--device",
        required=True,
        metavar="ADDRESS",
        help="the board's address (the lab file's device.address): the only target loaded",
    )
    p.add_argument(
        "--cells", type=int, default=1, help="cells to join, one after another (default 1)"
    )
    p.set_defaults(func=cmd_load_worker)


def cmd_load_worker(args: argparse.Namespace) -> int:
    master = parse_host_port(args.master, "--master")
    device = check_worker_device(args.device)
    if not 1 <= args.cells <= MAX_CELLS:
        raise UserError(f"--cells: must be 1..{MAX_CELLS}, got {args.cells}")
    argv = locust_worker_command(master)
    env = {**os.environ, "CLOSEBENCH_WORKER_DEVICE": device}
    for cell in range(1, args.cells + 1):
        print(f"cell {cell}/{args.cells}: joining the master at {args.master}", flush=True)
        code = _one_worker(argv, env)
        if code != 0:
            print(f"cell {cell}/{args.cells}: the worker ended with {code}; stopping", flush=True)
            return 1
        if cell < args.cells:
            time.sleep(BETWEEN_CELLS_S)
    return 0


def _one_worker(argv: list[str], env: dict[str, str]) -> int:
    # Bounded: the longest load, locust's wait for a master, and margin.
    with subprocess.Popen(argv, env=env, stdout=sys.stdout, stderr=sys.stderr) as proc:
        try:
            return proc.wait(MAX_RUN_TIME_S + 900)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(15)
            return 1
        except KeyboardInterrupt:
            proc.terminate()  # the worker stops its users; the master marks the cell
            proc.wait(15)
            raise
