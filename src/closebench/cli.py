"""The `closebench` command: every nox session is a thin call into this."""

from __future__ import annotations

import argparse
import importlib
import sys

from closebench import __version__
from closebench.errors import UserError

# Each module defines register(subparsers) and sets `func` on its parsers.
COMMAND_MODULES = (
    "closebench.commands.variants",
    "closebench.commands.build",
    "closebench.commands.bench",
    "closebench.commands.analyze",
    "closebench.commands.run",
    "closebench.commands.report",
    "closebench.commands.regress",
    "closebench.commands.hardware",
    "closebench.commands.load_worker",
    "closebench.commands.probe",
    "closebench.commands.perf",
    "closebench.commands.sources",
    "closebench.commands.seed",
    "closebench.commands.profiles",
    "closebench.commands.bisect",
    "closebench.commands.timing",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="closebench",
        description="Measure how firmware TCP stacks close connections under load.",
    )
    parser.add_argument("--version", action="version", version=f"closebench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"closebench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("closebench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
