"""`closebench bisect`: the first commit of a variant's source whose close handling differs."""

from __future__ import annotations

import argparse
from pathlib import Path

from closebench.commands.speed_flags import add_speed_flag
from closebench.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bisect",
        help="binary-search a variant's source history for the first commit whose close "
        "handling differs (build, probe and run the cells at each step)",
        description="Binary-search a variant's source history between --good and --bad for "
        "the first commit whose close handling differs: at each step build the exact "
        "source, probe it and run the cells.",
    )
    p.add_argument("--variant", required=True, help="a variant with a [source] table")
    p.add_argument("--good", required=True, help="commit, tag or release label of the old end")
    p.add_argument("--bad", required=True, help="commit, tag or release label of the new end")
    p.add_argument(
        "--metric",
        default="stack_fault_rate",
        help="stack_fault_rate (default), faulty_rate, duel_rate or close_kind_<kind>",
    )
    p.add_argument("--profile", default="seed-200ms", help="load profile (default %(default)s)")
    p.add_argument("--link", default="ideal", help="link profile (default %(default)s)")
    p.add_argument("--repetitions", type=int, default=2, help="cells per step (default 2)")
    p.add_argument("--run-time", type=float, default=20.0, help="load per cell, s (default 20)")
    p.add_argument(
        "--cooldown", type=float, default=15.0, help="capture after the load, s (default 15)"
    )
    p.add_argument(
        "--repo-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a clone or mirror of the source repository (the history to bisect; archives of "
        "unpinned commits are made from it); without it, the archives present are the history",
    )
    p.add_argument(
        "--alpha", type=float, default=0.01, help="significance level (Holm), as regress"
    )
    p.add_argument("--no-verify", action="store_true", help="skip the probes at each step")
    add_speed_flag(p)
    p.add_argument("--results", type=Path, help="results folder (default: results/)")
    p.set_defaults(func=cmd_bisect)


def cmd_bisect(args: argparse.Namespace) -> int:
    from closebench.regress.bisect import Plan, describe, run_bisect

    if args.repetitions < 1:
        raise UserError("--repetitions must be at least 1", exit_code=2)
    plan = Plan(
        variant=args.variant,
        good=args.good,
        bad=args.bad,
        metric=args.metric,
        profiles=[p for p in args.profile.split(",") if p],
        links=[x for x in args.link.split(",") if x],
        repetitions=args.repetitions,
        run_time_s=args.run_time,
        cooldown_s=args.cooldown,
        repo_dirs=list(args.repo_dir),
        alpha=args.alpha,
        verify=not args.no_verify,
        results=args.results,
        device_speed=args.device_speed,
    )
    out, outcome = run_bisect(plan)
    describe(outcome)
    print(f"bisect directory: {out} (bisect.json, one run directory per step)")
    return 0 if outcome.first_bad or not outcome.remaining else 1
