"""One cell on a real board: the same load, capture and analysis as the emulated bench.

The board was flashed beforehand (`closebench flash`). Load and capture aim only at the
device address of the lab file, checked by `check_load_target` (private or link-local,
inside the capture interface's subnet). The capture is tcpdump on the lab interface with a
filter on that address (tcpdump keeps every packet where scapy's live sniffer kept a few
percent at high rates); device.csv comes from the serial console poller. There is no
device-side capture on hardware: only the client's vantage point exists.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from closebench import __version__
from closebench.capture.tcpdump import Tcpdump
from closebench.hardware.lab import Board, Lab
from closebench.hardware.plan import console_style
from closebench.hardware.poller import SerialPoller
from closebench.hardware.ready import wait_ready
from closebench.hardware.safety import LoadTarget
from closebench.hardware.serialport import open_console
from closebench.load.locust_command import locust_command
from closebench.load.spread import SINGLE, LoadSpread, load_failure
from closebench.pipeline.cell import CellPlan, analyse
from closebench.schema import write_json


def console_style_of(plan: CellPlan) -> str:
    hw = plan.variant.hardware
    return console_style(hw.upload_tool if hw else "none")


def describe(
    plan: CellPlan, board: Board, target: LoadTarget, spread: LoadSpread = SINGLE
) -> list[str]:
    """The dry-run lines for one cell: exactly what would run, touching nothing."""
    argv, _env = locust_command(
        plan.profile,
        host=target.url.rstrip("/"),
        out_dir=Path("CELL"),
        run_time_s=plan.run_time_s,
        spread=spread,
    )
    return [
        f"cell {plan.id} on board {board.name} ({board.chip}, {board.port})",
        f"  wait until HEAD {target.url} answers",
        f"  capture: tcpdump -i {target.interface} -w CELL/capture-client.pcap "
        f"'{target.capture_filter}'",
        f"  resources: {console_style_of(plan)} console poller on {board.port} @ {board.baud}",
        f"  load: {' '.join(argv)}",
        f"  cooldown: {plan.cooldown_s:g} s of capture after the load stops",
    ]


def describe_workers(spread: LoadSpread, target: LoadTarget, cells: int) -> list[str]:
    """What each load host runs when the master takes remote workers."""
    if spread.master_bind is None:
        return []
    host, port = spread.master_bind
    return [
        f"on each of the {spread.expect_workers} load hosts (closebench {__version__}):",
        f"  closebench load-worker --master {host}:{port} --device {target.address} "
        f"--cells {cells}",
        "  their traffic must cross the capture interface, as this host's does",
    ]


def _event(events: dict[str, Any], name: str) -> None:
    now = time.time()
    events[name] = {"wall": now, "capture": now}  # tcpdump stamps with this host's clock


def _play_load(
    plan: CellPlan,
    cell: Path,
    target: LoadTarget,
    spread: LoadSpread,
    inner: dict[str, Any],
    events: dict[str, Any],
) -> None:
    argv, env = locust_command(
        plan.profile,
        host=target.url.rstrip("/"),
        out_dir=cell,
        run_time_s=plan.run_time_s,
        spread=spread,
    )
    _event(events, "locust_start")
    with (cell / "locust.log").open("ab") as log:
        proc = subprocess.run(
            argv,
            env=env,
            cwd=cell,
            stdout=log,
            stderr=subprocess.STDOUT,
            # remote workers may take their wait to join before the load starts
            timeout=plan.run_time_s + 60 + (spread.worker_wait_s if spread.remote else 0),
            check=False,
        )
    inner["locust_exit"] = proc.returncode
    if reason := load_failure(spread, cell):
        inner["status"] = f"failed: {reason}"


def run_hardware_cell(
    plan: CellPlan,
    lab: Lab,
    board: Board,
    target: LoadTarget,
    run_dir: Path,
    spread: LoadSpread = SINGLE,
) -> dict[str, Any]:
    cell = run_dir / plan.id
    cell.mkdir(parents=True)
    events: dict[str, Any] = {}
    inner: dict[str, Any] = {
        "status": "ok",
        "hardware": True,
        "events": events,
        "board": board.name,
        "chip": board.chip,
    }
    wait_ready(target, board.name, lab.device.ready_timeout_s)
    dump = Tcpdump(
        target.interface,
        cell / "capture-client.pcap",
        bpf_filter=target.capture_filter,
        log=cell / "tcpdump.log",
    )
    console = open_console(board.port, board.baud, board.name)
    poller = SerialPoller(console, console_style_of(plan), cell / "device.csv")
    try:
        dump.start()
        poller.start()
        _event(events, "device_start")
        _play_load(plan, cell, target, spread, inner, events)
        _event(events, "locust_exit")
        time.sleep(plan.cooldown_s)
        _event(events, "cooldown_end")
    except KeyboardInterrupt:
        inner["status"] = "interrupted"
        raise
    finally:
        poller.stop()
        console.close()
        inner["capture_client"] = dump.stop()
        write_json(cell / "events.json", {"clock": "CLOCK_REALTIME", "events": events})
        write_json(cell / "inner.json", inner)
    metrics = analyse(plan, cell, inner, device_ip=target.address, port=target.http_port)
    return {
        "status": inner["status"],
        "board": board.name,
        "complete_capture": metrics["capture"]["complete"],
    }
