"""Cells on a Dask cluster (`--cluster`): each cell is one task, measured on a worker host.

Dask distributed does the scheduling, the transport and the worker bookkeeping; closebench
only says what a task is. A worker builds the cell's device itself (its own build cache, the
same build key, or the cell fails), measures the cell in its own namespaces with the same
code as a local run, and sends the cell folder back as a tar (or writes it to a results path
shared by all hosts). The orchestrator verifies each variant once, before any task is sent,
and writes the one manifest, naming the worker and host of every cell.

`local:N` starts a LocalCluster of N worker processes on this machine, bound to loopback.
A worker that dies takes its running cells with it: they are `failed: worker died ...`
(the scheduler does not retry them elsewhere: allowed-failures 0), the run goes on. Ctrl-C
cancels the tasks and stops the sandboxes of every worker. docs/cluster.md has the set-up.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import re
import socket
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from closebench.errors import UserError

ADDRESS = re.compile(r"^(tcp|tls)://[^\s/:]+:\d+$")
CONNECT_TIMEOUT_S = 30


@dataclass(frozen=True)
class ClusterSpec:
    """Where the cells go: a running scheduler's address, or N local worker processes."""

    address: str | None = None
    local_workers: int = 0

    def writes_in_place(self, shared_results: bool) -> bool:
        """Workers write cells straight into the run directory: local ones always (same
        filesystem), remote ones when the results folder is at the same path on every host."""
        return self.address is None or shared_results


def parse_cluster(text: str) -> ClusterSpec:
    """`local:N` or `tcp://HOST:PORT` / `tls://HOST:PORT`; anything else is a one-line error."""
    if text.startswith("local:"):
        count = text.removeprefix("local:")
        if not count.isdigit() or not 1 <= int(count) <= 64:
            raise UserError(f"--cluster {text!r}: local:N needs N workers, 1 to 64")
        return ClusterSpec(local_workers=int(count))
    if not ADDRESS.match(text):
        raise UserError(
            f"--cluster {text!r}: expected local:N or a scheduler address tcp://HOST:PORT "
            "(tls://HOST:PORT with Dask's TLS configuration)"
        )
    return ClusterSpec(address=text)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise UserError(
            "--cluster needs Dask distributed: pip install 'closebench[cluster]'"
        ) from None
    return distributed


@contextlib.contextmanager
def local_cluster(workers: int, threads_per_worker: int) -> Iterator[Any]:
    """N worker processes on this machine, bound to loopback. Its scheduler fails a dead
    worker's cell instead of measuring it again on another worker (allowed-failures 0)."""
    distributed = _distributed()
    import dask

    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=40,  # logging.ERROR: the bench prints its own progress
        ) as cluster,
    ):
        yield cluster


@contextlib.contextmanager
def connect(spec: ClusterSpec, threads_per_worker: int) -> Iterator[Any]:
    """A distributed.Client for the cluster; a local one is started and torn down here
    (threads_per_worker applies to it; remote workers have their own --nthreads)."""
    distributed = _distributed()
    with contextlib.ExitStack() as stack:
        if spec.address is None:
            cluster = stack.enter_context(local_cluster(spec.local_workers, threads_per_worker))
            client = stack.enter_context(distributed.Client(cluster))
        else:
            try:
                client = distributed.Client(spec.address, timeout=CONNECT_TIMEOUT_S)
            except OSError as exc:
                raise UserError(
                    f"--cluster {spec.address}: cannot reach the scheduler ({exc})"
                ) from None
            stack.enter_context(client)
        if not client.scheduler_info().get("workers"):
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        yield client


def host_info() -> dict[str, Any]:
    """What the manifest records of the host a cell ran on."""
    return {
        "hostname": socket.gethostname(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def measure_on_worker(
    plan: Any, build_key: str | None, run_id: str, shared_dir: str | None
) -> dict[str, Any]:
    """The Dask task: build the cell's device here, measure and analyse the cell.

    Returns how it went, the worker's host, and the cell folder as a tar unless the folder
    was written to the shared results directory."""
    from distributed import get_worker

    from closebench.bench.variant_build import resolve
    from closebench.pipeline.cell import run_cell

    mode = "exact" if plan.variant.exact else "approximation"
    _, build = resolve(plan.variant, mode, log=lambda _line: None)
    out: dict[str, Any] = {"worker": get_worker().address, "host": host_info(), "tar": None}
    if build_key is not None and getattr(build, "key", None) != build_key:
        out["status"] = {
            "status": f"failed: worker built device {build.key}, the run uses {build_key}"
        }
        return out
    if shared_dir is not None:
        out["status"] = run_cell(plan, build.path, Path(shared_dir) / run_id)
        return out
    with tempfile.TemporaryDirectory(prefix="closebench-cell-") as tmp:
        out["status"] = run_cell(plan, build.path, Path(tmp))
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(Path(tmp) / plan.id, arcname=plan.id)
        out["tar"] = buf.getvalue()
    return out


def unpack_cell(blob: bytes, run_dir: Path) -> None:
    """A cell folder sent back by a worker, into the run directory (paths checked by tar's
    data filter: nothing outside the folder, no devices, no absolute links)."""
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        tar.extractall(run_dir, filter="data")


def stop_worker_sandboxes(client: Any) -> None:
    """Ctrl-C: every worker stops the sandboxes it runs (their captures are flushed)."""
    from closebench.bench import sandbox

    with contextlib.suppress(Exception):  # a worker that is gone has nothing left to stop
        client.run(sandbox.stop_all)
