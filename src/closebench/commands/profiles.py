"""`closebench profiles [--check FILE]`: list and validate the load and link profiles."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from closebench.bench.links import links_dir, load_link_file
from closebench.errors import UserError
from closebench.load.profiles import load_profile_file, profiles_dir
from closebench.tomlfile import read_toml

# Keys only a link profile has: how --check tells the two kinds apart.
LINK_KEYS = ("to_device", "from_device")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "profiles",
        help="list and validate the load profiles and link profiles",
        description="List every load profile (benchmarks/profiles) and link profile "
        "(benchmarks/links) with its validation status, without running anything. "
        "Exit 1 if any is invalid. With --check, validate the given files instead.",
    )
    p.add_argument(
        "--check",
        metavar="FILE",
        type=Path,
        action="append",
        help="validate this profile file (load or link, told apart by its to_device / "
        "from_device tables); repeatable",
    )
    p.set_defaults(func=handler)


def _summary_load(path: Path) -> str:
    prof = load_profile_file(path)
    return f"{prof.users} users, {prof.run_time_s:g} s, {prof.description}"


def _summary_link(path: Path) -> str:
    return load_link_file(path).description


def _kind(path: Path) -> tuple[str, Callable[[Path], str]]:
    data: dict[str, Any] = read_toml(path, "profile file")
    if any(key in data for key in LINK_KEYS):
        return "link", _summary_link
    return "load", _summary_load


def _status(check: Callable[[Path], str], path: Path) -> tuple[bool, str]:
    try:
        return True, check(path)
    except UserError as exc:
        return False, str(exc)


def _rows() -> list[tuple[str, str, bool, str]]:
    rows = []
    for kind, folder, check in (
        ("load", profiles_dir(), _summary_load),
        ("link", links_dir(), _summary_link),
    ):
        for path in sorted(folder.glob("*.toml")):
            ok, text = _status(check, path)
            rows.append((kind, path.stem, ok, text))
    return rows


def handler(args: argparse.Namespace) -> int:
    if args.check:
        for path in args.check:
            kind, check = _kind(path)
            print(f"{path}: valid {kind} profile ({check(path)})")
        return 0
    rows = _rows()
    width = max((len(name) for _, name, _, _ in rows), default=4)
    for kind, name, ok, text in rows:
        print(f"{kind:4}  {name:{width}}  {'ok ' if ok else 'BAD'}  {text}")
    bad = sum(1 for row in rows if not row[2])
    if bad:
        print(f"{bad} invalid profile(s)")
        return 1
    return 0
