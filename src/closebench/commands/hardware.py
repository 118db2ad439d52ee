"""`closebench flash`: flash a variant onto a lab board, upload its app, wait until it answers.

`--dry-run` prints the whole plan (esptool argv, upload commands, load and capture settings)
without opening a port, downloading anything or reading secret values."""

from __future__ import annotations

import argparse
from typing import Any

from closebench.errors import UserError
from closebench.hardware.lab import lab_path, load_lab
from closebench.hardware.plan import build_flash_plan
from closebench.hardware.safety import check_load_target, dry_run_checks
from closebench.hardware.secrets import Secrets, placeholder_values, wifi_secrets


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "flash",
        help="flash a variant onto a real board (hardware backend)",
        description=__doc__,
    )
    p.add_argument("--variant", required=True, help="variant name (firmware_variants/<name>)")
    p.add_argument("--board", required=True, help="board name from the lab file")
    p.add_argument("--lab", help="lab file (default: $CLOSEBENCH_LAB)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the whole plan, touch nothing; checks that would refuse (capture "
        "interface, serial port, device address) are marked 'would refuse'",
    )
    p.set_defaults(func=handle_flash)


def _load_variant(name: str) -> Any:  # closebench.variants.manifest.Variant
    try:
        from closebench.variants.manifest import load_variant
    except ImportError as exc:  # the loader is another module; say so instead of a traceback
        raise UserError(f"variant loader unavailable: {exc}") from None
    return load_variant(name)


def handle_flash(args: argparse.Namespace) -> int:
    lab = load_lab(lab_path(args.lab))
    board = lab.board(args.board)
    variant = _load_variant(args.variant)
    if args.dry_run:
        # The whole plan even without the lab at hand; each failing check is marked.
        target, refusals = dry_run_checks(lab, board)
        print(build_flash_plan(variant, board, lab, target).render(refusals=refusals))
        return 0
    target = check_load_target(lab)
    plan = build_flash_plan(variant, board, lab, target)
    # Secrets are checked before anything touches the board: failing after an erase would
    # leave it blank.
    # Arduino / IDF images carry their app (credentials are the build's business).
    uploads = plan.upload_tool != "none"
    secrets = wifi_secrets(lab) if uploads else Secrets("", "")
    values = placeholder_values(secrets, lab, target) if uploads else {}
    from closebench.hardware.flasher import flash_board  # esptool import only when flashing

    flash_board(plan, secrets, values)
    return 0
