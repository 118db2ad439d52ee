"""`closebench bench up`: one device on the emulated bench for a person to poke at."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from closebench import paths
from closebench.bench import netsetup
from closebench.bench.links import load_link
from closebench.bench.variant_build import SOURCES_HINT, resolve, sources_missing
from closebench.commands.source_flags import add_source_flags
from closebench.commands.speed_flags import add_speed_flag
from closebench.pipeline.session import bring_up
from closebench.variants.manifest import Variant, load_variant
from closebench.variants.timing import speed_label


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser(
        "bench",
        help="the emulated bench by hand",
        description="Work with the emulated bench by hand (needs root: network namespaces, "
        "TAP devices).",
    )
    bsub = bench.add_subparsers(dest="bench_command", metavar="ACTION", required=True)
    up = bsub.add_parser(
        "up",
        help="bring one device up until Ctrl-C",
        description="Build and start one variant's device program on the emulated bench, "
        "print how to reach it from the client namespace, and keep it up until Ctrl-C or "
        "--minutes. Captures and the timeline go to results/bench-up-<time>-<variant>/.",
    )
    up.add_argument("--variant", required=True, help="variant name (firmware_variants/<name>)")
    up.add_argument(
        "--link",
        default="ideal",
        help="link profile (benchmarks/links/<name>.toml; default %(default)s)",
    )
    up.add_argument("--lwip", help="build on this lwIP release instead of the variant's own")
    up.add_argument("--minutes", type=float, default=60, help="stop by itself after this long")
    add_source_flags(up)
    add_speed_flag(up)
    up.set_defaults(func=cmd_up)


def _speed(variant: Variant) -> str:
    timing = variant.timing.at_speed(variant.device_speed) if variant.timing else None
    speed = variant.device_speed if variant.kind == "lwip" else "host"
    return speed_label(speed, timing.as_dict() if timing else None)


def cmd_up(args: argparse.Namespace) -> int:
    variant = load_variant(args.variant).with_device_speed(args.device_speed)
    if args.lwip and variant.kind == "lwip":
        variant = variant.with_lwip(args.lwip)
    mode = "approximation" if args.lwip else args.source_mode
    variant, build = resolve(variant, mode)
    if sources_missing([build]):
        print(SOURCES_HINT)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    cell = paths.results_dir() / f"bench-up-{stamp}-{variant.name}"
    duration = args.minutes * 60
    box = bring_up(
        kind=variant.kind,
        lwip=variant.emulation.lwip or "2.1.3",
        options=variant.emulation.options,
        device_args=variant.device_args() if variant.kind == "lwip" else [],
        link_args=load_link(args.link).device_args(),
        cell_dir=cell,
        duration_s=duration,
        binary=build.path,
    )
    try:
        print(
            f"device {variant.name} ({variant.stack}; {build.provenance}; {_speed(variant)}) "
            f"is up at http://{netsetup.DEVICE_IP}/",
            flush=True,
        )
        print(f"enter the client namespace:  nsenter --net={box.netns_path()} bash")
        print(f"  e.g.  nsenter --net={box.netns_path()} curl -I http://{netsetup.DEVICE_IP}/")
        print(f"captures and timeline: {cell}   (Ctrl-C tears it all down)", flush=True)
        box.wait(duration + 60)
    except KeyboardInterrupt:
        print("\nstopping ...")
    finally:
        box.stop()
    return 0
