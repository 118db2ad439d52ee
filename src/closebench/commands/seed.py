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
        help="replay the original 2016 test as a grid of hypotheses and judge each",
        description="The unknowns of the 2016 test as hypotheses: nodemcu-2016's apps "
        "(--app's choices: the README server, the HTTP/1.1 page) x client behaviours "
        "(close-after-headers, close-after-headers-unread, read-until-close) x the device "
        "speeds of the timing band the bench defines, each on several link seeds, plus the "
        "Linux control per client behaviour. One continuous run per cell: HEAD / on a new "
        "connection every 1 s, then every 0.2 s (benchmarks/profiles/seed-2016*.toml), over "
        "the 2016 lab's link (benchmarks/links/seed-lab.toml), capture until both stacks are "
        "quiet (at most Linux's own retry budget); then seed.json (a verdict per observation "
        "per hypothesis, with evidence and every duel's ladder) and the report.",
    )
    p.add_argument("--seeds", type=int, help="link seeds (repetitions); default 5, --quick 1")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: one seed per hypothesis, 12 s load (6 s + 6 s), quiet within 60 s",
    )
    p.add_argument(
        "--cooldown",
        type=float,
        help="a fixed capture after the load, s (default: until both stacks are quiet, at most "
        "Linux's retry budget)",
    )
    p.add_argument("--jobs", type=int, help="cells at once (default: all, the load is light)")
    p.add_argument("--results", type=Path, help="results folder (default: results/)")
    p.add_argument("--no-report", action="store_true", help="skip rendering the report")
    p.add_argument("--no-verify", action="store_true", help="skip the verify probes")
    p.add_argument("--force", action="store_true", help="measure even when a probe contradicts")
    add_source_flags(p)
    # the model (and the band's ends where the bench defines them); host only on request,
    # labelled "host speed (faster than any chip)"
    add_speed_flag(p, default="model")
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

    from closebench.seed.study import CONTROL

    doc = json.loads((run_dir / "seed.json").read_text())
    table = Table(title=f"The 2016 test, hypotheses x observations: {doc['run_id']}")
    table.add_column("hypothesis")
    keys = list(next(iter(doc["variants"].values()))["observations"]) if doc["variants"] else []
    for key in keys:
        table.add_column(f"obs. {key}")
    table.add_column("conclusion")
    for hyp in doc.get("hypotheses") or []:
        table.add_row(hyp["label"], *(hyp["verdicts"][k] for k in keys), hyp["text"])
    for name, sec in doc["variants"].items():
        if name.startswith(CONTROL):
            obs = sec["observations"]
            table.add_row(f"control: {name}", *(obs[k]["verdict"] for k in keys), "")
    console.print(table)  # type: ignore[attr-defined]
