"""A run: a matrix of cells, its immutable run directory and manifest.

`complete: true` is written last; an interrupted run keeps `complete: false` and a reason,
and is never used as a baseline.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from closebench import __version__, paths
from closebench.bench import sandbox
from closebench.bench.source_ref import source_record
from closebench.errors import UserError
from closebench.pipeline.cell import CellPlan, run_cell
from closebench.pipeline.matrix import (
    DEFAULT_COOLDOWN_S,
    DEFAULT_LINKS,
    DEFAULT_PROFILES,
    DEFAULT_RUN_TIME_S,
    DEFAULT_VARIANTS,
    QUICK_COOLDOWN_S,
    QUICK_RUN_TIME_S,
    QUICK_VERIFY_OBSERVE_S,
    VERIFY_OBSERVE_S,
    Matrix,
    auto_jobs,
    make_matrix,
    wall_estimate_s,
    with_app,
)
from closebench.schema import RESULT_SCHEMA_VERSION, write_json
from closebench.variants.manifest import Variant

# The matrix (pipeline/matrix.py) stays reachable here, where every command that runs one finds
# it: runner.make_matrix, runner.Matrix and the defaults.
__all__ = [
    "DEFAULT_COOLDOWN_S",
    "DEFAULT_LINKS",
    "DEFAULT_PROFILES",
    "DEFAULT_RUN_TIME_S",
    "DEFAULT_VARIANTS",
    "QUICK_COOLDOWN_S",
    "QUICK_RUN_TIME_S",
    "QUICK_VERIFY_OBSERVE_S",
    "VERIFY_OBSERVE_S",
    "Matrix",
    "Run",
    "auto_jobs",
    "build_devices",
    "finish",
    "make_matrix",
    "run_matrix",
    "verify_variants",
    "wall_estimate_s",
    "with_app",
]


def _tool_version(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else None


def _git() -> dict[str, Any]:
    root = paths.repo_root()
    sha = _tool_version(["git", "-C", str(root), "rev-parse", "HEAD"])
    dirty = _tool_version(["git", "-C", str(root), "status", "--porcelain"])
    return {"version": __version__, "git_sha": sha, "git_dirty": bool(dirty)}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Run:
    """The run directory and its manifest, rewritten atomically as cells finish."""

    def __init__(
        self, kind: str, matrix: Matrix, results: Path | None = None, backend: str = "emulated"
    ) -> None:
        base = results or paths.results_dir()
        try:
            base.mkdir(parents=True, exist_ok=True)
            probe = base / f".write-test-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise UserError(
                f"results directory {base} is not writable ({exc.strerror}); "
                "set CLOSEBENCH_RESULTS to a writable folder"
            ) from exc
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self.dir = base / f"{stamp}-{kind}"
        n = 1
        while self.dir.exists():
            n += 1
            self.dir = base / f"{stamp}-{kind}-{n}"
        self.dir.mkdir()
        self.manifest: dict[str, Any] = {
            "schema_version": RESULT_SCHEMA_VERSION,
            "run_id": self.dir.name,
            "suite": _git(),
            "host": {
                "kernel": platform.release(),
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
            },
            "tools": {
                "tcpdump": _tool_version(["tcpdump", "--version"]),
                "tshark": _tool_version(["tshark", "--version"]),
                "gcc": _tool_version(["gcc", "--version"]),
                "locust": _tool_version(["locust", "--version"]),
            },
            "backend": backend,
            "matrix": {
                "variants": [v.name for v in matrix.variants],
                "profiles": [p.name for p in matrix.profiles],
                "links": [link.name for link in matrix.links],
                "repetitions": matrix.repetitions,
                "lwip": matrix.lwip,
            },
            "run_time_s": matrix.run_time_s,
            "cooldown_s": matrix.cooldown_s,
            "variants": {},
            "profiles": {p.name: p.as_dict() for p in matrix.profiles},
            "links": {link.name: link.as_dict() for link in matrix.links},
            "seeds": {},
            "cells": [],
            "started": _now(),
            "finished": None,
            "complete": False,
        }
        self.save()

    def save(self) -> None:
        write_json(self.dir / "manifest.json", self.manifest)


def build_devices(matrix: Matrix, log: Callable[[str], None]) -> dict[tuple[str, str | None], Any]:
    """One device build per (variant, lwIP release): (the variant as it runs, its build).

    The Linux reference uses cbdev as its link only.
    """
    from closebench.bench.variant_build import SOURCES_HINT, resolve, sources_missing

    builds: dict[tuple[str, str | None], Any] = {}
    for plan in matrix.cells():
        key = (plan.variant.name, plan.lwip)
        if key not in builds:
            builds[key] = resolve(plan.variant, matrix.source_mode, log)  # type: ignore[arg-type]
    if sources_missing([build for _variant, build in builds.values()]):
        log(SOURCES_HINT)
    return builds


def _variant_record(variant: Variant, build: Any) -> dict[str, Any]:
    em = variant.emulation
    lwip = variant.kind == "lwip"  # the Linux reference only borrows cbdev as its link
    return {
        "name": variant.name,
        "kind": variant.kind,
        "firmware": variant.firmware,
        "version": variant.version,
        "chip": variant.chip,
        "stack": variant.stack,
        "source": build.provenance if lwip else None,
        "exact_source": build.exact if lwip else False,
        "lwip_build": getattr(build, "lwip_version", None) if lwip else None,
        "debian_version": getattr(build, "debian_version", None) if lwip else None,
        "tarball_sha256": getattr(build, "tarball_sha256", None) if lwip else None,
        "device_build_key": getattr(build, "key", None),
        "options": em.options,
        "close": em.close,
        "admission": em.admission,
        "admission_limit": em.admission_limit,
        "tw_cap": em.tw_cap,
        "cull_closing": em.cull_closing,
        "known_differences": list(em.known_differences),
        # another commit of the variant's source (--source-ref, --releases): the ref, the
        # commits and their content hashes (computed on first use when not pinned)
        "source_ref": source_record(variant),
        "release": variant.release,
        # the chip's speed: "model", an end of its interval ("model-slow", "model-fast"; the
        # [timing] core at that point, below) or "host"
        "device_speed": variant.device_speed if lwip else "host",
        "timing": (
            variant.timing.at_speed(variant.device_speed).as_dict()
            if lwip and variant.timing
            else None
        ),
        # the chip's free heap at app start ([heap]): the device's heap budget, or None
        "heap": variant.heap.record() if lwip and variant.heap else None,
        # the app that served (--app; [[apps]] of the manifest), and every app it names
        "app": _app_record(variant),
        "apps": [a.name for a in variant.apps],
    }


def _app_record(variant: Variant) -> dict[str, Any] | None:
    app = variant.app_record
    if app is None:
        return None
    return {"name": app.name, "device_app": app.device_app, "files": list(app.files),
            "cite": app.cite, "note": app.note}  # fmt: skip


def verify_variants(
    plans: list[CellPlan], run_dir: Path, observe_s: float, log: Callable[[str], None]
) -> dict[str, list[str]]:
    """Verify before measuring: probe each variant (label) once; returns its contradictions."""
    from closebench.probes import failures, run_probes

    variants = {p.variant.label: p.variant for p in plans}
    out = run_dir / "probes"

    def one(variant: Variant) -> tuple[str, list[str]]:
        try:
            mode = "exact" if variant.exact else "approximation"  # the build the cells use
            # one line per variant here; each probe's lines are in probes/<variant>.json
            data = run_probes(
                variant, None, out, log=lambda _line: None, max_observe_s=observe_s,
                source_mode=mode,
            )  # fmt: skip
        except UserError as exc:
            return variant.label, [f"probes could not run: {exc}"]
        bad = failures(data)
        rows = data.get("results") or []
        log(f"verify {variant.label}: {len(rows)} behaviours measured, {len(bad)} contradictions")
        return variant.label, bad

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(one, variants.values()))


def run_matrix(
    matrix: Matrix,
    *,
    kind: str = "run",
    jobs: int | None = None,
    results: Path | None = None,
    progress: Any = None,
    log: Callable[[str], None] = print,
    verify: bool = True,
    force: bool = False,
    verify_observe_s: float = VERIFY_OBSERVE_S,
    cluster: str | None = None,
    shared_results: bool = False,
) -> Path:
    """Measure every cell and write the run directory; returns it (complete or not).

    cluster: `local:N` or a Dask scheduler address; the cells become tasks there.
    shared_results: the results folder is at the same path on every worker host."""
    run = Run(kind, matrix, results)
    plans = matrix.cells()
    log(f"run directory: {run.dir}  ({len(plans)} cells)")
    builds = build_devices(matrix, log)
    plans = [dataclasses.replace(p, variant=builds[(p.variant.name, p.lwip)][0]) for p in plans]
    for plan in plans:
        run.manifest["variants"].setdefault(
            plan.variant.name if not plan.lwip_axis else f"{plan.variant.name}@{plan.lwip}",
            _variant_record(plan.variant, builds[(plan.variant.name, plan.lwip)][1]),
        )
        run.manifest["seeds"][plan.id] = plan.seed
    run.save()
    skip = _verify_before_measuring(plans, run, verify_observe_s, force, log) if verify else {}
    jobs = jobs or auto_jobs(matrix)
    for plan in [p for p in plans if p.variant.label in skip]:
        run.manifest["cells"].append(plan.record(status=skip[plan.variant.label]))
    plans = [p for p in plans if p.variant.label not in skip]
    # SIGTERM stops the run like Ctrl-C (only the main thread may set handlers; a run
    # started from another thread, as a test does, keeps the process's own)
    main = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, signal.default_int_handler) if main else None
    task = progress.add_task("cells", total=len(plans)) if progress else None
    paths_of = {key: build.path for key, (_variant, build) in builds.items()}
    keys_of = {key: getattr(build, "key", None) for key, (_variant, build) in builds.items()}
    finished = (
        _cells_here(plans, paths_of, run, jobs, lambda plan: log(f"{plan.id}: load started"))
        if cluster is None
        else _cells_on_cluster(plans, keys_of, run, jobs, cluster, shared_results)
    )
    try:
        for done, (plan, cell) in enumerate(finished, 1):
            run.manifest["cells"].append(cell)
            run.save()
            if progress:
                progress.update(task, advance=1, description=f"{plan.id}: {cell['status']}")
            else:
                log(f"[{done}/{len(plans)}] {plan.id}: {cell['status']}")
    except KeyboardInterrupt:
        run.manifest["interrupted"] = _now()
        run.save()
        log("interrupted: stopping the bench (captures are flushed first) ...")
        finished.close()  # now, not when the traceback lets go of the generator
        raise
    finally:
        if main:
            signal.signal(signal.SIGTERM, old_term)
        run.manifest["finished"] = _now()
        run.save()
    finish(run, len(matrix.cells()))
    return run.dir


def _verify_before_measuring(
    plans: list[CellPlan],
    run: Run,
    observe_s: float,
    force: bool,
    log: Callable[[str], None],
) -> dict[str, str]:
    """Probe each variant once; returns variant label -> why its cells are skipped."""
    log(f"verify: probing {len({p.variant.label for p in plans})} variant(s) ...")
    verdicts = verify_variants(plans, run.dir, observe_s, log)
    run.manifest["verify"] = {
        label: {"ok": not bad, "contradictions": bad} for label, bad in verdicts.items()
    }
    run.save()
    refs = {p.variant.label for p in plans if p.variant.source_ref is not None}
    skip = {}
    for label, bad in verdicts.items():
        if bad and label in refs:
            # the manifest's [expect] describes the pinned commit, not this one: its
            # probes are evidence of what changed, not a reason to skip the cells
            log(f"verify {label}: differs from the pinned commit's manifest: {'; '.join(bad)}")
            run.manifest["verify"][label]["other_commit"] = True
        elif bad and not force:
            skip[label] = f"skipped: failed verify ({bad[0]}; --force to measure anyway)"
            log(f"verify {label}: FAILED, its cells are skipped: {'; '.join(bad)}")
    return skip


def _cells_here(
    plans: list[CellPlan],
    paths_of: dict[Any, Path],
    run: Run,
    jobs: int,
    on_load_start: Callable[[CellPlan], None],
) -> Iterator[tuple[CellPlan, dict[str, Any]]]:
    """Cells on this machine, `jobs` at once; (plan, manifest entry) as each finishes."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(run_cell, p, paths_of[(p.variant.name, p.lwip)], run.dir, on_load_start): p
            for p in plans
        }
        try:
            for fut in as_completed(futures):
                plan = futures[fut]
                try:
                    yield plan, plan.record(**fut.result())
                except Exception as exc:  # one broken cell must not lose the others
                    yield plan, plan.record(status=f"failed: {exc}")
        except (KeyboardInterrupt, GeneratorExit):
            for fut in futures:
                fut.cancel()
            sandbox.stop_all()
            raise


def _cells_on_cluster(
    plans: list[CellPlan],
    keys_of: dict[Any, str | None],
    run: Run,
    jobs: int,
    spec: str,
    shared_results: bool,
) -> Iterator[tuple[CellPlan, dict[str, Any]]]:
    """Cells as Dask tasks (pipeline/cluster.py); the manifest names each cell's worker."""
    from distributed import as_completed as dask_as_completed

    from closebench.pipeline import cluster

    where = cluster.parse_cluster(spec)
    shared = str(run.dir.parent) if where.writes_in_place(shared_results) else None
    per_worker = max(1, jobs // where.local_workers) if where.local_workers else jobs
    with cluster.connect(where, threads_per_worker=per_worker) as client:
        run.manifest["cluster"] = {
            "spec": spec,
            "scheduler": client.scheduler.address,
            "cells_written_in_place": shared is not None,
        }
        run.manifest["workers"] = {}
        futures = {
            client.submit(
                cluster.measure_on_worker, p, keys_of[(p.variant.name, p.lwip)], run.dir.name,
                shared, key=f"cell-{run.dir.name}-{p.id}", pure=False,
            ): p
            for p in plans
        }  # fmt: skip
        try:
            for fut in dask_as_completed(list(futures)):
                plan = futures[fut]
                try:
                    out = fut.result()
                except Exception as exc:  # KilledWorker and the like: the cell is lost
                    yield plan, plan.record(status=f"failed: worker died ({type(exc).__name__})")
                    continue
                if out["tar"] is not None:
                    cluster.unpack_cell(out["tar"], run.dir)
                run.manifest["workers"][out["worker"]] = out["host"]
                yield plan, plan.record(**out["status"], worker=out["worker"])
        except (KeyboardInterrupt, GeneratorExit):
            client.cancel(list(futures))
            cluster.stop_worker_sandboxes(client)
            raise


def finish(run: Run, expected_cells: int) -> None:
    """complete: true is the last thing written, and only when every cell has a status."""
    statuses = [c["status"] for c in run.manifest["cells"]]
    run.manifest["finished"] = _now()
    run.manifest["complete"] = len(statuses) == expected_cells and "interrupted" not in statuses
    run.save()
