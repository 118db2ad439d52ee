"""`--exact` / `--approximate`: which stack a command runs (run, compare, probe, bench up)."""

from __future__ import annotations

import argparse


def add_source_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--exact",
        dest="source_mode",
        action="store_const",
        const="exact",
        help="run each lwIP variant on its firmware's own stack source; stop when an archive "
        "is missing (default: exact where the archives are present, else the approximation)",
    )
    group.add_argument(
        "--approximate",
        dest="source_mode",
        action="store_const",
        const="approximation",
        help="run every lwIP variant on upstream lwIP with the firmware's options",
    )
    parser.set_defaults(source_mode="auto")
