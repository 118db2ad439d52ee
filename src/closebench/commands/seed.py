"""`closebench seed`: the 2016 test replayed, with a verdict per observation (seed.json)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from closebench.commands.source_flags import add_source_flags
from closebench.commands.speed_flags import add_speed_flag


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "seed",
        help="replay the original 2016 test (nodemcu-2016 + Linux control) and judge it",
        description="One continuous run per link seed: HEAD / on a new connection every 1 s, "
        "then every 0.2 s (benchmarks/profiles/seed-2016.toml), over the 2016 lab's link "
        "(benchmarks/links/seed-lab.toml), capture until every timer is done; then seed.json "
        "(a verdict per observation of the post, with evidence) and the report.",
    )
    p.add_argument("--seeds", type=int, help="link seeds (repetitions); default 5, --quick 1")
    p.add_argument(
        "--quick", action="store_true", help="smoke run: 12 s load (6 s + 6 s), 12 s cooldown"
    )
    p.add_argument("--cooldown", type=float, help="capture after the load, s (default: timers)")
    p.add_argument("--jobs", type=int, help="cells at once (default: all, the load is light)")
    p.add_argument("--results", type=Path, help="results folder (default: results/)")
    p.add_argument("--no-report", action="store_true", help="skip rendering the report")
    p.add_argument("--no-verify", action="store_true", help="skip the verify probes")
    p.add_argument("--force", action="store_true", help="measure even when a probe contradicts")
    add_source_flags(p)
    # host by default: the study's published verdicts were measured at host speed
    add_speed_flag(p, default="host")
    p.set_defaults(func=cmd_seed)


def cmd_seed(args: argparse.Namespace) -> int:
    from rich.console import Console

    from closebench.errors import UserError
    from closebench.seed import run_seed_study

    if args.seeds is not None and args.seeds < 1:
        raise UserError("--seeds must be at least 1")
    console = Console(stderr=True)
    run_dir = run_seed_study(
        seeds=args.seeds,
        quick=args.quick,
        source_mode=args.source_mode,
        device_speed=args.device_speed,
        results=args.results,
        jobs=args.jobs,
        verify=not args.no_verify,
        force=args.force,
        cooldown_s=args.cooldown,
        log=console.print,
    )
    print_verdicts(run_dir, console)
    if not args.no_report:
        from closebench.report import render_report

        out = render_report(run_dir, allow_incomplete=False, log=console.print)
        console.print(f"report: {out.get('html')}")
    console.print(f"run directory: {run_dir}")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    failed = [c for c in manifest["cells"] if c["status"] != "ok"]
    return 1 if failed else 0


def print_verdicts(run_dir: Path, console: object) -> None:
    from rich.table import Table

    doc = json.loads((run_dir / "seed.json").read_text())
    table = Table(title=f"The 2016 test: {doc['run_id']}")
    table.add_column("observation")
    names = list(doc["variants"])
    for name in names:
        table.add_column(name)
    first = doc["variants"][names[0]]["observations"]
    for key, obs in first.items():
        cells = []
        for name in names:
            o = doc["variants"][name]["observations"][key]
            cells.append(f"{o['verdict']} ({o['reproduced_in']}/{o['seeds']} seeds)")
        table.add_row(f"{key}. {obs['observation']}", *cells)
    console.print(table)  # type: ignore[attr-defined]
