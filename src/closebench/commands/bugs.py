"""`closebench bugs`: the known-bug catalogue run against the stacks, a bug x stack table."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from closebench import paths
from closebench.commands.ref_flags import add_ref_flags, chosen_variants
from closebench.commands.source_flags import add_source_flags
from closebench.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bugs",
        help="known close bugs (benchmarks/bugs/) against the stacks: present, absent, n/a",
        description="Run each catalogued close/teardown bug's trigger probe against the "
        "variants (at their pinned commits, or --source-ref) and print a bug x stack table; "
        "--pairs also builds each fix's commit just before it and the fix commit.",
    )
    p.add_argument("--variants", help="comma-separated variants (default: all eight)")
    p.add_argument("--bugs", help="comma-separated bug ids (default: the whole catalogue)")
    p.add_argument(
        "--pairs", action="store_true", help="also run each entry's before/after-fix pair"
    )
    p.add_argument("--pairs-only", action="store_true", help="run the pairs, not the table")
    p.add_argument("--out", type=Path, help="output folder (a run directory: the report shows it)")
    p.add_argument("--jobs", type=int, default=4, help="probes run in parallel (default 4)")
    p.add_argument("--list", action="store_true", help="validate and list the catalogue")
    add_source_flags(p)
    add_ref_flags(p, releases=False)
    p.set_defaults(func=handler)


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def handler(args: argparse.Namespace) -> int:
    from closebench.bugs import table
    from closebench.bugs.catalogue import load_catalogue
    from closebench.bugs.runner import run_catalogue
    from closebench.variants.manifest import load_variants

    bugs = load_catalogue(ids=_names(args.bugs))
    if args.list:
        for bug in bugs:
            print(f"{bug.id}: {bug.title} [{bug.probe}.{bug.behaviour}; {len(bug.pairs)} pair(s)]")
        return 0
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    names = _names(args.variants)
    # --pairs-only builds each pair's own refs (with --repo-dir); no stack table
    variants = [] if args.pairs_only else chosen_variants(args, names) or load_variants(names)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = args.out or paths.results_dir() / f"bugs-{stamp}"
    data = run_catalogue(
        bugs,
        variants,
        out,
        pairs=args.pairs or args.pairs_only,
        repo_dirs=args.repo_dir,
        source_mode=args.source_mode,
        jobs=args.jobs,
    )
    if data["stacks"]:
        print(table.stack_table(data))
        print()
        print("\n".join(table.footnotes(data)))
    lines = table.pair_lines(data)
    if lines:
        print("\nfix pairs (the commit just before the fix -> the fix commit):")
        print("\n".join(lines))
    print(f"\n{out / 'bugs.json'}")
    return 0
