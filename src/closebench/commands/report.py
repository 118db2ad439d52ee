"""`closebench report RUN_DIR`: rebuild a run's report (no re-measuring)."""

from __future__ import annotations

import argparse
from pathlib import Path

from closebench.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="render report.html and summary.md of a run directory",
        description="Execute analysis/report.ipynb on RUN_DIR and write report.ipynb, "
        "report.html (self-contained, no code) and summary.md into it.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a results/<run-id> folder")
    parser.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="render a run whose manifest lacks complete: true (marked INCOMPLETE RUN)",
    )
    parser.add_argument(
        "--reanalyse",
        action="store_true",
        help="first re-derive every measured cell's connections.parquet and metrics.json "
        "from its captures (after an analyzer update; nothing is measured again)",
    )
    parser.add_argument(
        "--bundle",
        action="store_true",
        help="then write RUN_DIR.tar.gz: the report, notebook, manifest, each cell's "
        "connections.parquet and metrics.json, and the drawn connections' pcaps",
    )
    parser.add_argument(
        "--with-captures",
        action="store_true",
        help="with --bundle: include the full captures too (most of a run's size)",
    )
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    # Imported here so `closebench --help` stays fast: the report pulls in pandas and papermill.
    from closebench.report import render_report

    if args.reanalyse:
        from closebench.pipeline.reanalyse import reanalyse_run

        print(f"re-derived {reanalyse_run(args.run_dir)} cells")
    if args.with_captures and not args.bundle:
        raise UserError("--with-captures goes with --bundle")
    paths = render_report(args.run_dir, allow_incomplete=args.allow_incomplete)
    for name, path in paths.items():
        print(f"{name}: {path}")
    if args.bundle:
        from closebench.report.bundle import write_bundle

        write_bundle(args.run_dir, with_captures=args.with_captures)
    return 0
