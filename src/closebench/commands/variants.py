"""`closebench variants [--json]`: list the firmware variants and how each is emulated."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from closebench.bench.variant_build import planned_provenance
from closebench.variants.manifest import Variant, load_variants


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "variants",
        help="list firmware variants: stack, lwIP build, close behaviour",
        description="List the firmware variants under firmware_variants/: the stack each runs "
        "on, how it is built (approximation or exact source), its close mode, admission, "
        "TIME_WAIT cap and number of known differences. Every manifest is validated; a bad "
        "one is refused with its file and field.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=handler)


def summary_row(variant: Variant) -> dict[str, Any]:
    emu = variant.emulation
    admission = "none" if emu.admission == "none" else f"{emu.admission}:{emu.admission_limit}"
    return {
        "name": variant.name,
        "kind": variant.kind,
        "firmware": f"{variant.firmware} {variant.version}",
        "stack": variant.stack,
        "lwip": emu.lwip,
        "close": emu.close,
        "admission": admission,
        "tw_cap": emu.tw_cap,
        "cull_closing": emu.cull_closing,
        "source": planned_provenance(variant),
        "known_differences": len(emu.known_differences),
        "known_differences_exact": len(variant.source.known_differences)
        if variant.source
        else None,
        "hardware": variant.hardware is not None,
    }


def _emulated(row: dict[str, Any]) -> tuple[str, str]:
    """Admission and TIME_WAIT cap as the bench emulates them; an exact build has its own."""
    if row["source"].startswith("exact source"):
        return "stack's own", "stack's own"
    return row["admission"], str(row["tw_cap"]) if row["tw_cap"] else "none"


def _diffs(row: dict[str, Any]) -> str:
    """Known differences of what a run would use (the exact build lists fewer)."""
    if row["source"].startswith("exact source"):
        return str(row["known_differences_exact"])
    return str(row["known_differences"])


def handler(args: argparse.Namespace) -> int:
    rows = [summary_row(v) for v in load_variants()]
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    table = Table(title="closebench firmware variants")
    for column in ("variant", "runs on", "close", "admission", "TW cap", "diffs"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"],
            f"{escape(row['stack'])}\n[dim]{escape(row['source'])}[/dim]",
            row["close"],
            *_emulated(row),
            _diffs(row),
        )
    # Wide enough that CI logs and pipes keep one row per variant.
    Console(width=max(160, Console().width)).print(table)
    return 0
