"""`closebench run` (any matrix) and `closebench compare` (the default matrix + report)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from closebench.commands import band_run
from closebench.commands.ref_flags import add_ref_flags, chosen_variants
from closebench.commands.source_flags import add_source_flags
from closebench.commands.speed_flags import add_speed_flag
from closebench.errors import UserError
from closebench.load.spread import DEFAULT_WORKER_WAIT_S, load_spread
from closebench.pipeline import runner
from closebench.variants.timing import speed_label


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _matrix_args(p: argparse.ArgumentParser, *, defaults: bool) -> None:
    _axis_args(p, defaults=defaults)
    _execution_args(p)
    p.add_argument(
        "--backend",
        choices=("emulated", "hardware"),
        default="emulated",
        help="hardware: the cells of one flashed variant on a real board",
    )
    add_source_flags(p)
    add_speed_flag(p)
    p.add_argument(
        "--app",
        help="the app a variant with [[apps]] serves (nodemcu-2016: readme, the default, or "
        "http11); variants without apps serve their only page",
    )
    add_ref_flags(p, releases=True)
    _hardware_args(p)


def _axis_args(p: argparse.ArgumentParser, *, defaults: bool) -> None:
    """What is measured: the matrix's axes and each cell's times."""
    p.add_argument("--variants", help="comma list (default: all)")
    p.add_argument(
        "--profiles",
        default=",".join(runner.DEFAULT_PROFILES) if defaults else None,
        help="comma list of load profiles (benchmarks/profiles/*.toml)"
        + (" (default %(default)s)" if defaults else ""),
    )
    p.add_argument(
        "--links",
        default=",".join(runner.DEFAULT_LINKS) if defaults else None,
        help="comma list of link profiles (benchmarks/links/*.toml)"
        + (" (default %(default)s)" if defaults else ""),
    )
    p.add_argument(
        "--repetitions",
        type=int,
        default=1,
        help="cells per (variant, profile, link) combination (default %(default)s)",
    )
    p.add_argument(
        "--lwip",
        help="comma list of lwIP releases to build every lwIP variant on "
        "(release axis, e.g. 2.1.3,2.2.1); default: each variant's own",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {runner.QUICK_RUN_TIME_S:.0f} s load, "
        f"{runner.QUICK_COOLDOWN_S:.0f} s cooldown",
    )
    p.add_argument("--run-time", type=float, help="load phase per cell, seconds")
    p.add_argument(
        "--cooldown",
        type=float,
        help=f"capture after the load stops, seconds (default "
        f"{runner.DEFAULT_COOLDOWN_S:.0f}: past the longest TIME_WAIT, 120 s)",
    )


def _execution_args(p: argparse.ArgumentParser) -> None:
    """How and where the cells run, and what happens around them."""
    p.add_argument(
        "--jobs",
        type=int,
        help="cells at once (default: up to 16 for light profiles, 1 when a profile is heavy)",
    )
    p.add_argument(
        "--cluster",
        metavar="SPEC",
        help="measure the cells as Dask tasks: local:N (N worker processes here) or a "
        "scheduler's tcp://HOST:PORT (docs/cluster.md); default: this machine, no Dask",
    )
    p.add_argument(
        "--shared-results",
        action="store_true",
        help="with --cluster: the results folder is at the same path on every worker host "
        "(a shared mount), so workers write their cells there instead of sending them back",
    )
    p.add_argument("--results", type=Path, help="results folder (default: results/)")
    p.add_argument("--no-report", action="store_true", help="skip rendering the report")
    p.add_argument(
        "--timing-band",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="measure the same cells again at the ends of the chip model's interval "
        "(--device-speed model-slow, and model-fast where it differs from the model), same "
        "seeds, into RUN/timing-band/; write timing-band.json and print every verdict that "
        "moves as timing-sensitive (default: on for compare, off for compare --quick and run)",
    )
    p.add_argument(
        "--no-verify",
        action="store_true",
        help="skip the probes that verify each variant before its load cells",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="load-test variants even when their probes contradict their manifest",
    )


def _hardware_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lab", help="hardware: lab file (or CLOSEBENCH_LAB)")
    p.add_argument("--board", help="hardware: board name in the lab file")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="hardware: print what each cell would run, touch nothing",
    )
    _load_spread_args(p)


def _load_spread_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--locust-workers",
        type=int,
        metavar="N",
        help="hardware: N locust worker processes on this host (locust --processes)",
    )
    p.add_argument(
        "--locust-master-bind",
        metavar="HOST:PORT",
        help="hardware: the locust master listens here for workers on other hosts "
        "(`closebench load-worker --master HOST:PORT --device ADDRESS` on each)",
    )
    p.add_argument(
        "--locust-expect-workers",
        type=int,
        metavar="K",
        help="hardware: how many remote load workers each cell waits for",
    )
    p.add_argument(
        "--locust-worker-wait",
        type=float,
        default=DEFAULT_WORKER_WAIT_S,
        metavar="S",
        help="hardware: how long a cell waits for its remote workers to join, s "
        "(default %(default)g)",
    )


def _spread_asked(args: argparse.Namespace) -> bool:
    return any(
        v is not None
        for v in (args.locust_workers, args.locust_master_bind, args.locust_expect_workers)
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run any matrix of cells on the emulated bench",
        description="Run every (variant, load profile, link profile) cell of a matrix on the "
        "emulated bench (or, with --backend hardware, on a real board): probes first, then "
        "the load, captures and analysis per cell, then the report.",
    )
    _matrix_args(p, defaults=False)
    p.set_defaults(func=cmd_run, kind="run")
    c = sub.add_parser(
        "compare",
        help="the default matrix on the emulated bench + report",
        description="Run the default matrix (every variant on the default load and link "
        "profiles) on the emulated bench and render the report; --quick for a smoke run.",
    )
    _matrix_args(c, defaults=True)
    c.set_defaults(func=cmd_run, kind="compare")


def _run_hardware(args: argparse.Namespace, matrix: runner.Matrix, console: Console) -> int:
    if args.cluster:
        raise UserError("--cluster belongs to the emulated backend (one board, one host)")
    if args.timing_band:
        raise UserError("--timing-band belongs to the emulated bench (a board runs at its speed)")
    from closebench.hardware.board_run import run_on_hardware

    spread = load_spread(
        local_workers=args.locust_workers,
        master_bind=args.locust_master_bind,
        expect_workers=args.locust_expect_workers,
        worker_wait_s=args.locust_worker_wait,
    )
    hw_dir = run_on_hardware(
        matrix,
        lab_file=args.lab,
        board_name=args.board,
        dry_run=args.dry_run,
        kind=args.kind,
        results=args.results,
        spread=spread,
        log=print,  # plain lines: the plan is meant to be copied
    )
    if hw_dir is None:
        return 0
    return _finish(hw_dir, args, console)


def cmd_run(args: argparse.Namespace) -> int:
    if not args.profiles or not args.links:
        raise UserError("run needs --profiles and --links (see `closebench run --help`)")
    matrix = runner.make_matrix(
        _csv(args.variants),
        _csv(args.profiles) or [],
        _csv(args.links) or [],
        args.repetitions,
        _csv(args.lwip),
        args.quick,
        args.run_time,
        args.cooldown,
        source_mode=args.source_mode,
        variant_list=chosen_variants(args, _csv(args.variants)),
        # the chip's speed (issue 14): lwIP variants on their modelled core unless host
        device_speed=args.device_speed,
        app=args.app,
    )
    console = Console(stderr=True)
    if args.backend == "hardware":
        return _run_hardware(args, matrix, console)
    _check_emulated_options(args)
    return _run_emulated(args, matrix, console)


def _check_emulated_options(args: argparse.Namespace) -> None:
    """Refuse the hardware-only options and a bad cluster spec before anything is built."""
    if args.dry_run or args.lab or args.board:
        raise UserError("--dry-run, --lab and --board belong to --backend hardware")
    if _spread_asked(args):
        raise UserError(
            "--locust-workers/--locust-master-bind belong to --backend hardware (the emulated "
            "bench's client lives in a private namespace on this host)"
        )
    if args.cluster:
        from closebench.pipeline.cluster import parse_cluster

        parse_cluster(args.cluster)  # a bad spec is refused before anything is built
    elif args.shared_results:
        raise UserError("--shared-results belongs to --cluster")


def _run_emulated(args: argparse.Namespace, matrix: runner.Matrix, console: Console) -> int:
    jobs = args.jobs or runner.auto_jobs(matrix)
    cells = len(matrix.cells())
    console.print(
        f"{cells} cells ({len(matrix.variants)} variants x {len(matrix.profiles)} profiles x "
        f"{len(matrix.links)} links x {matrix.repetitions} rep), load {matrix.run_time_s:.0f} s + "
        f"cooldown {matrix.cooldown_s:.0f} s per cell, {jobs} at once: about "
        f"{runner.wall_estimate_s(matrix, jobs) / 60:.1f} min"
    )
    if band_run.wants_band(args):
        console.print(band_run.estimate(matrix, jobs))
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        run_dir = runner.run_matrix(
            matrix,
            kind=args.kind,
            jobs=jobs,
            results=args.results,
            progress=progress,
            log=console.print,
            verify=not args.no_verify,
            force=args.force,
            verify_observe_s=runner.QUICK_VERIFY_OBSERVE_S
            if args.quick
            else runner.VERIFY_OBSERVE_S,
            cluster=args.cluster,
            shared_results=args.shared_results,
        )
        if band_run.wants_band(args):
            band_run.run_band(args, matrix, run_dir, jobs, progress, console)
    return _finish(run_dir, args, console)


def _finish(run_dir: Path, args: argparse.Namespace, console: Console) -> int:
    print_summary(run_dir, console)
    if not args.no_report:
        from closebench.report import render_report

        out = render_report(run_dir, allow_incomplete=False, log=console.print)
        console.print(f"report: {out.get('html')}")
    console.print(f"run directory: {run_dir}")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    failed = [c for c in manifest["cells"] if c["status"].startswith("failed")]
    return 1 if failed else 0


def print_summary(run_dir: Path, console: Console) -> None:
    table = Table(title=f"closebench {run_dir.name}")
    for col in (
        "variant",
        "profile",
        "link",
        "conns",
        "faulty % [95% CI]",
        "duels",
        "top close_kind",
        "reqs ok/failed",
        "capture",
    ):
        table.add_column(col, overflow="fold")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    notes: dict[str, str] = {}
    for cell in sorted(manifest["cells"], key=lambda c: c["id"]):
        where = (cell.get("variant", cell["id"]), cell.get("profile", ""), cell.get("link", ""))
        path = run_dir / cell["id"] / "metrics.json"
        if cell["status"] != "ok" or not path.exists():
            short = cell["status"].split(" (")[0]
            notes.setdefault(short, cell["status"])
            table.add_row(*where, "-", "-", "-", short, "-", "-")
            continue
        m = json.loads(path.read_text())
        a, ld = m.get("analysis", {}), m.get("load", {})
        kinds = a.get("close_kind", {})
        top = max(kinds.items(), key=lambda kv: kv[1].get("count", 0))[0] if kinds else "-"
        f = a.get("faulty", {})
        table.add_row(
            *where, str(a.get("connections", 0)),
            f"{100 * (f.get('rate') or 0):.1f} [{100 * (f.get('ci_low') or 0):.1f}-"
            f"{100 * (f.get('ci_high') or 0):.1f}]",
            str(a.get("duels", 0)), top, f"{ld.get('ok', 0)}/{ld.get('failed', 0)}",
            "complete" if m.get("capture", {}).get("complete") else "INCOMPLETE",
        )  # fmt: skip
    wide = Console(file=console.file, width=max(console.width, 150))  # a table, not a poem
    speeds = {
        name: speed_label(info.get("device_speed"), info.get("timing"))
        for name, info in (manifest.get("variants") or {}).items()
        if info.get("kind") != "linux"
    }
    notes.update({f"speed {name}": f"{name} ran at {label}" for name, label in speeds.items()})
    wide.print(table)
    for status in notes.values():
        wide.print(f"  {status}")
