"""`closebench timing apps --variant V`: the app's instructions per event on the lx106.

Builds the firmware's own interpreter for the ESP8266's core with the variant's app inside,
runs it under QEMU and prints each event's instruction counts (closebench.chip.app_runtime).
`add_apps_command` hangs the action under the `timing` command (commands/timing.py), beside
the stack's `timing measure`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from closebench.chip import app_runtime
from closebench.chip.toolchain import find_toolchain


def add_apps_command(tsub: argparse._SubParsersAction) -> None:
    apps = tsub.add_parser(
        "apps",
        help="the app's instructions per event on its own interpreter (lx106, QEMU)",
        description="Build the variant's interpreter (NodeMCU's Lua 5.1 or MicroPython's VM, "
        "from the firmware's own source at its pinned commit) for the lx106 with "
        "the app inside, run it under qemu-system-xtensa -cpu lx106 and print the "
        "instructions each event takes.",
    )
    apps.add_argument("--variant", required=True, help="a variant listed in chip/apps/apps.toml")
    apps.add_argument(
        "--cpi", type=float, help="cycles per instruction: also print microseconds at --mhz"
    )
    apps.add_argument("--app", type=Path, help="run this script instead of the variant's app file")
    apps.add_argument(
        "--mhz", type=float, default=80.0, help="the clock the microseconds are for (80)"
    )
    apps.set_defaults(func=cmd_apps)


def cmd_apps(args: argparse.Namespace) -> int:
    tools = find_toolchain()
    spec = app_runtime.app_spec(args.variant)
    print(f"{args.variant}: building {spec.note}", flush=True)
    result = app_runtime.run_app(tools, spec, app_runtime.build_app(tools, spec, args.app))
    print(f"stubbed API calls: {len(result.calls)} (first: {', '.join(result.calls[:4])})")
    print(f"  {'event':13s} {'n':>3} {'min':>8} {'median':>8} {'mean':>9} {'max':>8}")
    for event, counts in result.events.items():
        print(
            f"  {event:13s} {len(counts):3d} {min(counts):8d} {result.median(event):8d} "
            f"{result.mean(event):9.1f} {max(counts):8d}"
        )
    print("[timing] app parts (mean instructions per event):")
    for event, n in result.timing_instructions().items():
        extra = ""
        if args.cpi:
            us = app_runtime.instructions_to_us(n, args.cpi, args.mhz)
            extra = f"  = {us:.0f} us at CPI {args.cpi}, {args.mhz:g} MHz"
        print(f"  {event:8s} {n:8d}{extra}")
    return 0
