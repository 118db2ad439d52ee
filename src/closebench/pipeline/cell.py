"""One cell (variant x load profile x link x repetition): measure in a sandbox, then analyse.

The sandbox part (cell_inside) records; everything after it is analysis of the cell folder,
so `metrics.json` can always be re-derived from the files next to it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from closebench.bench import netsetup
from closebench.bench.links import LinkProfile
from closebench.bench.sandbox import Sandbox
from closebench.bench.testbed import DeviceSpec
from closebench.capture import tcpdump as capture
from closebench.load.locust_command import locust_command
from closebench.load.outputs import finalize_load_outputs
from closebench.load.profiles import LoadProfile
from closebench.load.ramp import ramp_summary
from closebench.pipeline.cell_inside import LOAD_STARTED
from closebench.schema import RESULT_SCHEMA_VERSION, write_json
from closebench.variants.manifest import Variant


@dataclass(frozen=True)
class CellPlan:
    variant: Variant
    profile: LoadProfile
    link: LinkProfile
    repetition: int
    lwip: str | None  # lwIP release the device is built on (None for the Linux reference)
    run_time_s: float
    cooldown_s: float
    lwip_axis: bool = False  # several releases in this run: put the release in the cell id
    # cooldown until neither stack may still send, at most cooldown_s (pipeline/quiet.py)
    until_quiet: bool = False
    # the device writes its --trace-tx trace point (which source line sent each packet)
    trace_tx: bool = False

    @property
    def id(self) -> str:
        cid = f"{self.variant.name}__{self.profile.name}__{self.link.name}__r{self.repetition}"
        return f"{cid}__lwip{self.lwip}" if self.lwip_axis and self.lwip else cid

    def record(self, **status: Any) -> dict[str, Any]:
        """The manifest's entry for this cell: its identity plus how it went."""
        return {"id": self.id, "variant": self.variant.name, "profile": self.profile.name,
                "link": self.link.name, "repetition": self.repetition, "lwip": self.lwip,
                "app": self.variant.app, **status}  # fmt: skip

    @property
    def seed(self) -> int:
        """Same cell, same link drops, on every machine."""
        # by the variant folder's name: every commit of one variant (--source-ref) gets the
        # same link drops, so two commits are compared on the same link
        cid = self.id.replace(self.variant.name, self.variant.base_name, 1)
        digest = hashlib.sha256(f"closebench-link:{cid}".encode()).digest()
        return int.from_bytes(digest[:8], "big") >> 1


def device_spec(
    plan: CellPlan, binary: Path, cell_dir: Path, duration_s: float, trace_tx: bool = False
) -> DeviceSpec:
    args = plan.variant.device_args() if plan.variant.kind == "lwip" else []
    if trace_tx and plan.variant.kind == "lwip":
        args = [*args, "--trace-tx", str(cell_dir / "device-tx-trace.txt")]
    return DeviceSpec(
        kind=plan.variant.kind,
        binary=str(binary),
        device_args=args,
        link_args=plan.link.device_args(),
        seed=plan.seed,
        pcap=str(cell_dir / "capture-device.pcap"),
        timeline=str(cell_dir / "device.csv"),
        log_dir=str(cell_dir),
        duration_s=duration_s,
    )


def measure(
    plan: CellPlan,
    binary: Path,
    cell_dir: Path,
    on_load_start: Callable[[CellPlan], None] | None = None,
) -> dict[str, Any]:
    """Record the cell inside a fresh sandbox; returns inner.json (status and counters).

    on_load_start is called once the sandbox says the load has started (locust launched)."""
    cell_dir.mkdir(parents=True, exist_ok=False)
    bound_s = plan.run_time_s + plan.cooldown_s + 90
    argv, env = locust_command(
        plan.profile,
        host=f"http://{netsetup.DEVICE_IP}",
        out_dir=cell_dir,
        run_time_s=plan.run_time_s,
    )
    spec = {
        "cell_dir": str(cell_dir),
        "device": device_spec(plan, binary, cell_dir, bound_s + 30, plan.trace_tx).__dict__,
        "locust": {"argv": argv, "env": env, "timeout_s": plan.run_time_s + 60},
        "cooldown_s": plan.cooldown_s,
        "until_quiet": plan.until_quiet,
    }
    spec_path = cell_dir / "cell-spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    box = Sandbox(
        [sys.executable, "-m", "closebench.pipeline.cell_inside", str(spec_path)],
        log=cell_dir / "sandbox.log",
    )
    started = time.monotonic()
    try:
        if box.wait_for_output(LOAD_STARTED.encode(), bound_s) and on_load_start is not None:
            on_load_start(plan)
        box.wait(max(0.0, bound_s - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        pass
    finally:
        box.stop()  # also on Ctrl-C: the capture is flushed, then the namespace dies
    inner_path = cell_dir / "inner.json"
    if not inner_path.exists():
        return {
            "status": f"failed: the sandbox ended without a result (see {cell_dir}/sandbox.log)"
        }
    return json.loads(inner_path.read_text())


def device_figures(cell_dir: Path) -> dict[str, Any]:
    path = cell_dir / "device.csv"
    if not path.exists() or path.stat().st_size == 0:
        return {}
    import pandas as pd  # here: the CLI imports this module at every start

    df = pd.read_csv(path)
    if df.empty:
        return {}

    def peak(col: str) -> int | None:
        return int(df[col].max()) if col in df and df[col].notna().any() else None

    return {
        "peak_pcbs": peak("pcbs"),
        "peak_time_wait": peak("time_wait"),
        "alloc_fail": peak("alloc_fail"),
        "syn_dropped": peak("syn_dropped"),
        "culled": peak("culled"),
    }


def record_load_window(cell_dir: Path, load_section: dict[str, Any]) -> dict[str, Any]:
    """Add load_start/load_stop to events.json from requests.csv; return the events.

    The load is what the wire saw: the first request's start and the last request's end.
    locust_start/locust_exit (the process) are seconds wider: interpreter start-up before,
    the last users' margin and the exit after. Measuring after_load_ms from locust_exit would
    hide seconds of after-load exchange. Without requests, the process times stand in.
    Both captures use the host's clock, so capture == wall for these.
    """
    path = cell_dir / "events.json"
    doc = json.loads(path.read_text())
    events = doc["events"]
    for name, key, fallback in (
        ("load_start", "first_request_epoch_s", "locust_start"),
        ("load_stop", "last_request_end_epoch_s", "locust_exit"),
    ):
        t = load_section.get(key)
        if t is not None:
            events[name] = {"wall": t, "capture": t, "from": "requests.csv"}
        elif fallback in events:
            events[name] = {**events[fallback], "from": fallback}
    write_json(path, doc)
    return events


def analyse(
    plan: CellPlan | None,
    cell_dir: Path,
    inner: dict[str, Any],
    *,
    device_ip: str = netsetup.DEVICE_IP,
    port: int = 80,
    identity: dict[str, Any] | None = None,
    profile: LoadProfile | None = None,
) -> dict[str, Any]:
    """Derive metrics.json from the cell folder alone: the files next to it are the truth.

    identity and profile stand in for the plan when a finished run is re-derived (its cell
    section, and the load profile whose ramp is summarised). Both outputs are written once.
    """
    from closebench.teardown import analyze_capture, write_outputs

    load_section = finalize_load_outputs(cell_dir)
    events = record_load_window(cell_dir, load_section)
    load_stop = events.get("load_stop", {}).get("capture")
    client_pcap = cell_dir / "capture-client.pcap"
    device_pcap = cell_dir / "capture-device.pcap"
    result = analyze_capture(client_pcap, device_ip=device_ip, load_stop=load_stop)
    dev = None
    if device_pcap.exists():
        dev = analyze_capture(device_pcap, device_ip=device_ip, load_stop=load_stop)
    profile = plan.profile if plan is not None else profile
    if profile is not None and (ramp := ramp_summary(cell_dir / "requests.csv", profile)):
        load_section["ramp"] = ramp
    syns = capture.count_first_syns(client_pcap, server_port=port)
    load_section["syns_in_capture"] = syns
    # a request whose SYN never left the host (ARP unanswered) has no connection to match
    on_wire = (load_section.get("requests") or 0) - load_section["failures"].get("unreachable", 0)
    load_section["connections_match_requests"] = syns == on_wire
    client_cap = inner.get("capture_client", {})
    dropped = int(client_cap.get("dropped_kernel") or 0) + int(client_cap.get("dropped_ifc") or 0)
    # the emulated device writes its own capture; a board has none, only the client's
    device_ok = inner.get("device", {}).get("exit_code") == 0 or inner.get("hardware", False)
    # Cross-check the capturer against the device's own count of frames on the same TAP
    # (equal to the frame in every cell measured): a capturer that silently missed frames,
    # with no drop counted, cannot pass for complete.
    counters = inner.get("device", {})
    tap_frames = (counters.get("tap_rx") or 0) + (counters.get("tap_tx") or 0)
    client_cap["tap_frames"] = tap_frames if "tap_rx" in counters else None
    saw_all = "tap_rx" not in counters or (client_cap.get("packets") or 0) >= tap_frames
    metrics: dict[str, Any] = dict(
        schema_version=RESULT_SCHEMA_VERSION,
        load=load_section,
        capture={
            "client": client_cap,
            "device": {
                "packets": capture.count_packets(device_pcap) if device_pcap.exists() else 0,
                "dropped": 0 if device_ok else None,  # written by the device itself
            },
            "complete": dropped == 0 and saw_all and device_ok and inner.get("status") == "ok",
        },
        device={**device_figures(cell_dir), "counters": inner.get("device", {})},
    )
    if dev is not None:
        metrics["device_view"] = dev.summary
    if plan is not None:
        identity = {
            "id": plan.id,
            "variant": plan.variant.name,
            "profile": plan.profile.name,
            "link": plan.link.name,
            "repetition": plan.repetition,
            "lwip": plan.lwip,
            "seed": plan.seed,
        }
    if identity is not None:
        metrics["cell"] = identity
    # Both views: which extra teardown packets the link caused and which a stack did.
    _, metrics_path = write_outputs(result, cell_dir, device_view=dev, sections=metrics)
    return json.loads(metrics_path.read_text())


def run_cell(
    plan: CellPlan,
    binary: Path,
    run_dir: Path,
    on_load_start: Callable[[CellPlan], None] | None = None,
) -> dict[str, Any]:
    """Measure and analyse one cell; returns how it went (plan.record() adds who it is)."""
    cell_dir = run_dir / plan.id
    started = time.time()
    inner = measure(plan, binary, cell_dir, on_load_start)
    status = inner.get("status", "failed: no status")
    if status == "interrupted":
        return {"status": status}
    try:
        metrics = analyse(plan, cell_dir, inner)
    except Exception as exc:  # keep the run going; the cell says why
        return {"status": f"failed: analysis: {exc}"}
    return {
        "status": status,
        "seconds": round(time.time() - started, 1),
        "complete_capture": metrics["capture"]["complete"],
    }
