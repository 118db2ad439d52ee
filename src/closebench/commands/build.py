"""`closebench build`: build the emulated device for an lwIP version and option set."""

from __future__ import annotations

import argparse
import sys

from closebench.bench.device_build import build_device
from closebench.bench.lwip_source import SUPPORTED
from closebench.bench.lwipopts import OptionValue
from closebench.errors import UserError


def parse_opt(text: str) -> tuple[str, OptionValue]:
    """NAME=VALUE; integers become ints, anything else stays a C expression string."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise UserError(f"--opt {text!r}: expected NAME=VALUE, e.g. --opt TCP_MSL=5000")
    try:
        return name, int(value, 0)
    except ValueError:
        return name, value


def handler(args: argparse.Namespace) -> int:
    options = dict(parse_opt(o) for o in args.opt)
    build = build_device(args.lwip, options, log=lambda m: print(m, file=sys.stderr))
    print(build.path)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build",
        help="build the emulated device (cbdev) against a pinned lwIP",
        description="Fetch the pinned lwIP source, compile cbdev with the given lwipopts "
        "values, and print the binary's path (cached by version, options and sources).",
    )
    parser.add_argument("--lwip", required=True, choices=SUPPORTED, help="lwIP version")
    parser.add_argument(
        "--opt",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="lwipopts.h override, repeatable (e.g. --opt TCP_MSL=5000)",
    )
    parser.set_defaults(func=handler)
