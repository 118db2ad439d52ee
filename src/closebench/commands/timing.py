"""`closebench timing measure --variant V`: re-measure a variant's stack on the ESP8266's core.

Builds the variant's exact stack for lx106, replays its recorded cell under
`qemu-system-xtensa -M sim -cpu lx106`, prints the instructions per event (min / median /
p90 / max / mean), the cycles per instruction from CoreMark against the published scores,
and the stack microseconds per event at the interval's fast end, the model and the slow end
(closebench.chip; docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from closebench.chip.measure import (
    MODEL_EVENTS,
    CpiBand,
    StackMeasurement,
    measure_cpi_band,
    measure_stack,
)
from closebench.commands.timing_apps import add_apps_command
from closebench.errors import UserError
from closebench.variants.manifest import load_variant


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "timing",
        help="measure the chip's speed: a variant's stack on the ESP8266's instruction set",
        description="Measure the instructions a variant's own stack executes per event on "
        "the ESP8266's lx106 core (QEMU), and turn them into microseconds with the cycles "
        "per instruction CoreMark gives against published scores on the chip.",
    )
    sub = p.add_subparsers(dest="timing_command", metavar="ACTION")
    m = sub.add_parser(
        "measure",
        help="re-measure one variant's stack figures",
        description="Build the variant's own stack for the lx106 with a harness that replays a "
        "recorded cell's frames, count the instructions per event under QEMU (exactly, with a "
        "TCG plugin) and print their distribution and the microseconds at the CPI interval.",
    )
    m.add_argument("--variant", required=True, help="an ESP8266 variant with a [source] table")
    m.add_argument(
        "--capture",
        type=Path,
        help="a device-side capture of a cell to replay (capture-device.pcap of a run); "
        "default: the cell shipped in firmware_variants/chip/workloads/",
    )
    m.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    m.add_argument(
        "--toml",
        action="store_true",
        help="also print the [timing.cpi] and [timing.stack.*] tables for variant.toml "
        "(the stack half of each event's pair is the model figure)",
    )
    m.set_defaults(func=handler)
    add_apps_command(sub)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _log(text: str) -> None:
    print(f"timing: {text}", flush=True)


def _table(meas: StackMeasurement) -> list[str]:
    lines = [f"{'event':8} {'n':>6} {'min':>8} {'median':>8} {'p90':>8} {'max':>8} {'mean':>9}"]
    for ev, d in meas.counts.items():
        lines.append(
            f"{ev:8} {d.n:6d} {d.low:8d} {d.median:8.0f} {d.p90:8.0f} {d.high:8d} {d.mean:9.1f}"
        )
    return lines


def _figures(meas: StackMeasurement, band: CpiBand) -> dict[str, dict[str, float]]:
    ends = {"fast": band.fast, "model": band.model, "slow": band.slow}
    us = {name: meas.microseconds(cpi) for name, cpi in ends.items()}
    return {ev: {name: round(us[name][ev], 1) for name in ends} for ev in MODEL_EVENTS}


WHAT = {
    "accept": "inbound SYNs (the listen input, the PCB, the SYN-ACK queued; its send apart)",
    "receive": "other inbound TCP frames (and the stack work an app does from its main loop)",
    "send": "segments sent (tcp_output or tcp_rst to the link)",
    "close": "FINs and RSTs sent, beyond a plain send",
    "timer": "passes that run the TCP timer",
}


def toml_tables(meas: StackMeasurement, band: CpiBand, figures: dict) -> list[str]:
    """[timing.cpi] and [timing.stack.<event>] as variant.toml carries them."""
    points = "; ".join(
        f"{p.published.where}: {p.instructions} instructions for {p.published.iterations} "
        f"iterations under QEMU with {' '.join(p.published.flags)} -> CPI {p.cpi:.3f}"
        + (f" ({p.published.assumptions})" if p.published.assumptions else "")
        for p in band.points
    )
    cpi_source = (
        "CoreMark (eembc/coremark@d5fad6b) under qemu-system-xtensa -cpu lx106 against "
        f"published scores on the chip at 80 MHz: {points}. The model is the first (every "
        "parameter published), the slow end the largest"
    )
    lines = [
        "[timing.cpi]",
        f"fast = {band.fast:.3f}",
        f"model = {band.model:.3f}",
        f"slow = {band.slow:.3f}",
        f"source = {json.dumps(cpi_source)}",
    ]
    for ev, ends in figures.items():
        n = meas.model_instructions[ev]
        us = [round(ends["fast"]), round(ends["model"]), round(ends["slow"])]
        source = (
            f"measured: {n:.0f} instructions on lx106 ({meas.command}: mean over the "
            f"{WHAT[ev]} of the recorded cell), CPI from CoreMark against ochrin/coremark's "
            f"191 iterations/s on the ESP8266 at 80 MHz, interval to PaulStoffregen/CoreMark#13 "
            f"([timing.cpi])"
        )
        lines += ["", f"[timing.stack.{ev}]", f"us = {us}", f"source = {json.dumps(source)}"]
    return lines


def handler(args: argparse.Namespace) -> int:
    variant = load_variant(args.variant)
    if variant.chip != "esp8266" or variant.source is None:
        raise UserError(f"{variant.manifest_file}: only ESP8266 variants with a [source] table")
    meas = measure_stack(variant, args.capture, _log)
    band = measure_cpi_band(_log)
    print(f"{variant.name}: {meas.frames} recorded frames from {meas.capture}")
    print(
        "instructions per event on lx106 (the stack's own code; harness and app stand-in left out):"
    )
    print("\n".join(_table(meas)))
    print(
        "the device's segments, recording vs replay: "
        + ", ".join(f"{k} {a}/{b}" for k, (a, b) in meas.replay.items())
    )
    cpi = f"fast {band.fast:.3f}, model {band.model:.3f}, slow {band.slow:.3f}"
    print(f"CPI: {cpi} ({band.citation()})")
    figures = _figures(meas, band)
    print("stack microseconds per event at 80 MHz (fast / model / slow):")
    for ev, ends in figures.items():
        instr = meas.model_instructions[ev]
        us = f"{ends['fast']} / {ends['model']} / {ends['slow']} us"
        print(f"  {ev:8} {instr:8.0f} instructions -> {us}")
    if args.toml:
        print("\n".join(toml_tables(meas, band, figures)))
    if args.json:
        out = {
            "variant": variant.name,
            "command": meas.command,
            "frames": meas.frames,
            "counts": {ev: d.as_dict() for ev, d in meas.counts.items()},
            "model_instructions": {k: round(v, 1) for k, v in meas.model_instructions.items()},
            "replay": meas.replay,
            "cpi": {"fast": band.fast, "model": band.model, "slow": band.slow},
            "cpi_points": [
                {"where": p.published.where, "instructions": p.instructions, "cpi": p.cpi}
                for p in band.points
            ],
            "stack_us": figures,
            "flags": meas.flags_cite,
        }
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0
