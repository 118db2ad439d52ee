"""`closebench bench up`: one device on the emulated bench for a person to poke at."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from closebench import paths
from closebench.bench import netsetup
from closebench.bench.sandbox import Sandbox
from closebench.bench.testbed import DeviceSpec
from closebench.errors import UserError
from closebench.links import load_link
from closebench.variants import load_variant


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="the emulated bench by hand")
    bsub = bench.add_subparsers(dest="bench_command", metavar="ACTION", required=True)
    up = bsub.add_parser("up", help="bring one device up until Ctrl-C")
    up.add_argument("--variant", required=True)
    up.add_argument("--link", default="ideal")
    up.add_argument("--lwip", help="build on this lwIP release instead of the variant's own")
    up.add_argument("--minutes", type=float, default=60, help="stop by itself after this long")
    up.set_defaults(func=cmd_up)


def cmd_up(args: argparse.Namespace) -> int:
    from closebench.bench.device_build import build_device

    variant = load_variant(args.variant)
    if args.lwip and variant.kind == "lwip":
        variant = variant.with_lwip(args.lwip)
    link = load_link(args.link)
    options = variant.emulation.options if variant.kind == "lwip" else {}
    build = build_device(variant.emulation.lwip or "2.1.3", options, log=print)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    cell = paths.results_dir() / f"bench-up-{stamp}-{variant.name}"
    cell.mkdir(parents=True)
    duration = args.minutes * 60
    spec = DeviceSpec(
        kind=variant.kind, binary=str(build.path),
        device_args=variant.device_args() if variant.kind == "lwip" else [],
        link_args=link.device_args(), seed=1, pcap=str(cell / "capture-device.pcap"),
        timeline=str(cell / "device.csv"), log_dir=str(cell), duration_s=duration + 30,
    )
    spec_path = cell / "cell-spec.json"
    spec_path.write_text(json.dumps(
        {"cell_dir": str(cell), "device": spec.__dict__, "locust": None, "cooldown_s": duration}))
    box = Sandbox([sys.executable, "-m", "closebench.bench.cell_inside", str(spec_path)],
                  log=cell / "sandbox.log")
    try:
        _wait_ready(cell / "sandbox.log", box)
        print(f"device {variant.name} ({variant.stack}) is up at http://{netsetup.DEVICE_IP}/")
        print(f"enter the client namespace:  nsenter --net={box.netns_path()} bash")
        print(f"  e.g.  nsenter --net={box.netns_path()} curl -I http://{netsetup.DEVICE_IP}/")
        print(f"captures and timeline: {cell}   (Ctrl-C tears it all down)")
        box.wait(duration + 60)
    except KeyboardInterrupt:
        print("\nstopping ...")
    finally:
        box.stop()
    return 0


def _wait_ready(path: Path, box: Sandbox, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and b"bench ready" in path.read_bytes():
            return
        if box.proc.poll() is not None:
            raise UserError(f"the bench stopped before it was ready: see {path}")
        time.sleep(0.1)
    raise UserError(f"the bench was not ready within {timeout:.0f} s: see {path}")
