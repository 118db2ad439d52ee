"""`closebench perf`: the figures that say whether the harness or the device is the limit.

Printed side by side in one run (the machine is shared and noisy: compare ratios, not
absolute numbers): the device's short-connection rate at host speed and the CPU split, the
harness's top rate (locust + capture) against that device, capture completeness at that rate,
each emulated device's modelled ceiling (its [timing] core, issue 14) and the harness's ratio
to it, a measured check that the model holds, and the analyzer against tshark on a
>= 1 M-packet capture of real short connections.

The targets on 2 cores (issue 14): the harness reaches >= 10x the ceiling of the slowest
modelled device and >= 2x the fastest's, with zero capture drops.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from closebench import paths
from closebench.bench.sandbox import Sandbox
from closebench.bench.testbed import DeviceSpec
from closebench.errors import UserError
from closebench.load.locust_command import locust_command
from closebench.load.profiles import load_profile
from closebench.load.spread import LoadSpread
from closebench.pipeline.perf_inside import CONCURRENCY as CLIENT_CONCURRENCY

# A device that never runs out of PCBs, segments or heap and recycles TIME_WAIT in 100 ms, so
# the rate measured is the stack's speed, not its TIME_WAIT budget (client ports wrap within
# seconds at 10 k/s) or its pools: with the bench's default 64 segments, 100 connections in
# flight ran out (alloc_fail) and responses waited for the next poll, 2 s later.
PERF_OPTIONS = {
    "TCP_MSL": 50,
    "MEMP_NUM_TCP_PCB": 256,
    "TCP_MSS": 1460,
    "MEMP_NUM_TCP_SEG": 1024,
    "MEM_SIZE": 1 << 20,
    # With 2 client processes (100 connections in flight) the base 64 pool pbufs ran out: the
    # device stalled on alloc_fail with no CPU used and the clients timed out (8 conn/s).
    "PBUF_POOL_SIZE": 1024,
    "MEMP_NUM_PBUF": 1024,
}
PERF_LWIP = "2.1.3"
ANALYZER_PACKETS = 1_000_000
# Harness / modelled ceiling the harness must reach (issue 14, on 2 cores).
TARGET_SLOWEST = 10.0
TARGET_FASTEST = 2.0
# The model check: a few connections in flight (below the perf device's listen backlog of 5,
# so no SYN is dropped) keep the modelled core busy without overrunning its queue.
CHECK_CONCURRENCY = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "perf",
        help="benchmarks: device rate, harness ratio, analyzer vs tshark",
        description="Measure the bench itself: the device program's top connection rate, "
        "the load harness's ratio of offered to achieved rate, the device models, and the "
        "analyzer's speed against tshark. Prints the figures.",
    )
    p.add_argument(
        "--seconds", type=float, default=10, help="per rate measurement (default %(default)s)"
    )
    p.add_argument("--skip", default="", help="comma list of: device,harness,models,analyzer")
    p.add_argument(
        "--processes",
        type=int,
        default=max(2, (os.cpu_count() or 2) - 1),
        help="locust processes for the harness, and client processes for the device rate "
        "(default: cores - 1, at least 2)",
    )
    p.set_defaults(func=cmd_perf)


def _sandboxed(spec: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    spec_path = out_dir / "perf-spec.json"
    spec_path.write_text(json.dumps(spec))
    box = Sandbox(
        [sys.executable, "-m", "closebench.pipeline.perf_inside", str(spec_path)],
        log=out_dir / "sandbox.log",
    )
    try:
        box.wait(spec["duration_s"] + 120)
    finally:
        box.stop()
    return json.loads((out_dir / "perf.json").read_text())


def _device(binary: Path, out_dir: Path, extra: list[str] | None = None) -> dict[str, Any]:
    return DeviceSpec(
        kind="lwip",
        binary=str(binary),
        device_args=["--close", "bsd-socket", *(extra or [])],
        log_dir=str(out_dir),
        duration_s=900,
    ).__dict__


def device_rate(
    binary: Path,
    seconds: float,
    out_dir: Path,
    *,
    capture: bool = False,
    max_conns: int = 10**7,
    clients: int = 2,
    device_extra: list[str] | None = None,
    concurrency: int = CLIENT_CONCURRENCY,
) -> dict[str, Any]:
    spec = {
        "out_dir": str(out_dir),
        "device": _device(binary, out_dir, device_extra),
        "mode": "loops",
        "clients": clients,
        "concurrency": concurrency,
        "duration_s": seconds,
        "max_conns": max_conns,
        "capture": capture,
    }
    return _sandboxed(spec, out_dir)


def harness_rate(binary: Path, seconds: float, out_dir: Path, processes: int = 2) -> dict[str, Any]:
    from closebench.capture import tcpdump as capture

    profile = load_profile("saturate")
    argv, env = locust_command(
        profile,
        host="http://198.18.0.2",
        out_dir=out_dir,
        run_time_s=seconds,
        spread=LoadSpread(local_workers=processes),
    )
    spec = {
        "out_dir": str(out_dir),
        "device": _device(binary, out_dir),
        "mode": "locust",
        "argv": argv,
        "env": env,
        "duration_s": seconds,
        "capture": True,
    }
    res = _sandboxed(spec, out_dir)
    res["syns_in_capture"] = capture.count_first_syns(out_dir / "capture-client.pcap")
    return res


def analyzer_capture(binary: Path, console: Console) -> Path:
    """A >= 1 M-packet capture of real short connections from the bench, made once."""
    from closebench.capture.tcpdump import count_packets

    target = paths.cache_dir() / "perf" / f"bench-{ANALYZER_PACKETS}.pcap"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        console.print("making the analyzer's capture from the bench (once) ...")
        # ~9-10 packets per short connection on an ideal link
        # 2 client loops; ~7 packets per short connection on an ideal link, plus margin
        device_rate(binary, 180, Path(tmp), capture=True, max_conns=ANALYZER_PACKETS // 12 + 1)
        pcap = Path(tmp) / "capture-client.pcap"
        n = count_packets(pcap)
        console.print(f"captured {n} packets")
        if n < ANALYZER_PACKETS:
            raise UserError(f"the bench capture has {n} packets, fewer than {ANALYZER_PACKETS}")
        pcap.replace(target)
    return target


def _per_conn_us(window: dict[str, Any], role: str, conns: float) -> float:
    return window.get(f"{role}_cpu_s", 0.0) / conns * 1e6 if conns else float("nan")


def _device_rows(table: Table, dev: dict[str, Any], processes: int) -> dict[str, float]:
    """Rows for the device alone; returns its figures for the harness comparison."""
    win = dev["cpu_window"]
    conns = dev["conn_per_s"] * win["seconds"]
    device_us = _per_conn_us(win, "device", conns)
    client_us = _per_conn_us(win, "client", conns)
    share = win.get("device_cpu_s", 0.0) / win["seconds"]
    # The device is one single-threaded process: at one full core it would serve this many.
    ceiling = 1e6 / device_us if device_us > 0 else float("nan")
    table.add_row(
        "device: short connections/s (fastest client)",
        f"{dev['conn_per_s']:.0f}",
        f"{processes} processes x {CLIENT_CONCURRENCY} in flight, no locust; "
        f"{dev['failed']} failed" + (f" {dev['failures']}" if dev.get("failures") else ""),
    )
    table.add_row(
        "device CPU (fraction of one core)",
        f"{share:.2f}",
        "device saturated"
        if share >= 0.9
        else "< 0.9: the clients, not the device, were the limit",
    )
    table.add_row("device CPU per connection (us)", f"{device_us:.0f}", "user + sys of cbdev")
    counters = dev.get("device") or {}
    table.add_row(
        "device: allocation failures / frames dropped at the TAP queue",
        f"{counters.get('alloc_fail')} / {dev.get('tap_tx_dropped')}",
        "lwIP pool or heap exhausted / frames the device did not read in time",
    )
    table.add_row(
        "client CPU per connection (us)",
        f"{client_us:.0f}",
        "fastest client, its kernel TCP work included",
    )
    table.add_row(
        "device ceiling at one full core, conn/s",
        f"{ceiling:.0f}",
        "extrapolated: 1 s / device CPU per connection",
    )
    return {"rate": dev["conn_per_s"], "ceiling": ceiling}


def _harness_rows(
    table: Table, har: dict[str, Any], device: dict[str, float], processes: int
) -> dict[str, float]:
    rps = har["load"].get("rps") or 0.0
    win = har.get("cpu_window") or {}
    conns = rps * win.get("seconds", 0.0)
    harness_us = _per_conn_us(win, "client", conns) + _per_conn_us(win, "capture", conns)
    table.add_row(
        f"harness: locust ({processes} processes) + tcpdump, requests/s",
        f"{rps:.0f}",
        f"{har['load'].get('failed', 0)} failed",
    )
    table.add_row(
        "harness CPU per request (us)",
        f"{harness_us:.0f}",
        f"locust {_per_conn_us(win, 'client', conns):.0f} + capture "
        f"{_per_conn_us(win, 'capture', conns):.0f}",
    )
    if device:
        table.add_row(
            "harness / device rate (fastest client)",
            f"{rps / device['rate']:.2f}",
            f"same machine, same {os.cpu_count()} cores",
        )
        ratio = rps / device["ceiling"]
        cores = device["ceiling"] * harness_us / 1e6
        table.add_row(
            "harness / host-speed device ceiling",
            f"{ratio:.2f}",
            "an infinitely fast chip; no target (issue 14): see the modelled ceilings"
            if ratio < 1
            else ">= 1: the device saturates first",
        )
        del cores
    cap = har.get("capture", {})
    drops = int(cap.get("dropped_kernel") or 0) + int(cap.get("dropped_ifc") or 0)
    table.add_row(
        "capture drops (kernel + interface)",
        str(drops),
        f"{cap.get('packets', 0)} packets captured; target 0",
    )
    table.add_row(
        "first SYNs in capture vs requests",
        f"{har['syns_in_capture']} / {har['load'].get('requests')}",
        "",
    )
    return {"rps": rps, "drops": float(drops)}


def modelled_devices() -> list[tuple[str, Any]]:
    """(variant, timing model) of every lwIP variant with a [timing] table, slowest first."""
    from closebench.variants.manifest import load_variants

    models = [(v.name, v.timing) for v in load_variants() if v.kind == "lwip" and v.timing]
    return sorted(models, key=lambda m: m[1].ceiling_per_s())


def _model_rows(table: Table, harness: dict[str, float] | None) -> dict[str, Any]:
    """Each modelled device's ceiling beside the harness's top rate, and the targets."""
    models = modelled_devices()
    rps = harness["rps"] if harness else None
    for name, timing in models:
        ceiling = timing.ceiling_per_s()
        table.add_row(
            f"modelled ceiling: {name}, conn/s",
            f"{ceiling:.0f}",
            f"{timing.connection_us() / 1000:.1f} ms of core time per short connection"
            + (f"; harness / ceiling {rps / ceiling:.1f}" if rps else ""),
        )
    verdict: dict[str, Any] = {"models": {n: t.ceiling_per_s() for n, t in models}}
    if not models or rps is None:
        return verdict
    slow, fast = models[0], models[-1]
    r_slow = rps / slow[1].ceiling_per_s()
    r_fast = rps / fast[1].ceiling_per_s()
    no_drops = harness is not None and harness["drops"] == 0
    met = r_slow >= TARGET_SLOWEST and r_fast >= TARGET_FASTEST and no_drops
    table.add_row(
        f"harness / slowest modelled ceiling ({slow[0]})",
        f"{r_slow:.1f}",
        f"target >= {TARGET_SLOWEST:.0f}: " + ("met" if r_slow >= TARGET_SLOWEST else "NOT met"),
    )
    table.add_row(
        f"harness / fastest modelled ceiling ({fast[0]})",
        f"{r_fast:.1f}",
        f"target >= {TARGET_FASTEST:.0f}: " + ("met" if r_fast >= TARGET_FASTEST else "NOT met"),
    )
    table.add_row(
        "targets (2 cores): both ratios and zero capture drops",
        "met" if met else "NOT met",
        "the harness outruns every modelled chip; a ramp then finds the device's breaking point"
        if met
        else "the harness may limit a ramp before the device does",
    )
    verdict.update(slowest_ratio=r_slow, fastest_ratio=r_fast, met=met)
    return verdict


def model_check(binary: Path, seconds: float, work: Path, table: Table) -> None:
    """The model holds: the perf device on the slowest and the fastest model's core, a few
    connections in flight, serves near the modelled ceiling, and its core was busy."""
    models = modelled_devices()
    ends = [models[0], models[-1]] if len(models) > 1 else models
    for name, timing in ends:
        out = work / f"model-{name}"
        out.mkdir()
        res = device_rate(
            binary,
            seconds,
            out,
            clients=1,
            device_extra=["--cpu", timing.device_spec()],
            concurrency=CHECK_CONCURRENCY,
        )
        counters = res.get("device") or {}
        served = int(counters.get("responses") or 0)
        busy = float(counters.get("cpu_busy_us") or 0) / 1e6
        core_ms = busy / served * 1000 if served else float("nan")
        share = busy / res["elapsed_s"] if res.get("elapsed_s") else float("nan")
        table.add_row(
            f"model check: {name} on its core, conn/s",
            f"{res['conn_per_s']:.0f}",
            f"ceiling {timing.ceiling_per_s():.0f}; core busy {share:.2f} of the time, "
            f"{core_ms:.1f} ms per served connection (model: "
            f"{timing.connection_us() / 1000:.1f}); {res['failed']} failed, "
            f"{counters.get('cpu_queue_drop')} frames dropped at the core's queue",
        )


def cmd_perf(args: argparse.Namespace) -> int:
    from closebench.bench.device_build import build_device

    console = Console()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    build = build_device(PERF_LWIP, PERF_OPTIONS, log=console.print)
    table = Table(title="closebench perf (one run, side by side)")
    table.add_column("measure")
    table.add_column("figure", justify="right")
    table.add_column("note")
    device: dict[str, float] = {}
    harness: dict[str, float] | None = None
    with tempfile.TemporaryDirectory(prefix="closebench-perf-") as tmp:
        work = Path(tmp)
        if "device" not in skip:
            (work / "device").mkdir()
            console.print(f"device rate, fastest client, {args.seconds:.0f} s ...")
            dev = device_rate(build.path, args.seconds, work / "device", clients=args.processes)
            device = _device_rows(table, dev, args.processes)
        if "harness" not in skip:
            (work / "harness").mkdir()
            console.print(
                f"harness rate, locust saturate profile + tcpdump, {args.seconds:.0f} s ..."
            )
            har = harness_rate(build.path, args.seconds, work / "harness", args.processes)
            harness = _harness_rows(table, har, device, args.processes)
        if "models" not in skip:
            verdict = _model_rows(table, harness)
            console.print_json(json.dumps(verdict))
            console.print("model check: the slowest and fastest models on the perf device ...")
            model_check(build.path, min(args.seconds, 10.0), work, table)
    if "analyzer" not in skip:
        from closebench.teardown.benchmark import run as bench_analyzer

        pcap = analyzer_capture(build.path, console)
        res = bench_analyzer(pcap)
        console.print_json(json.dumps(res, default=str))
        for key, value in res.items():
            if isinstance(value, int | float):
                table.add_row(f"analyzer: {key}", f"{value:,.2f}", "")
    console.print(table)
    return 0
