"""An idle bench: one device up in its sandbox, no load, until stopped (people and tests)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from closebench.bench.sandbox import Sandbox
from closebench.bench.testbed import DeviceSpec
from closebench.errors import UserError


def bring_up(
    *,
    kind: str,
    lwip: str,
    options: Mapping[str, int | str],
    device_args: list[str],
    link_args: list[str],
    cell_dir: Path,
    duration_s: float,
    seed: int = 1,
    log: Callable[[str], None] = print,
    binary: Path | None = None,
) -> Sandbox:
    """Build (cached) and start one device; returns once it answers on the bench.

    `binary`: a device already built (an exact-source build); else the approximation on `lwip`.
    """
    from closebench.bench.device_build import build_device

    if binary is None:
        binary = build_device(lwip, dict(options) if kind == "lwip" else {}, log=log).path
    cell_dir.mkdir(parents=True, exist_ok=True)
    spec = DeviceSpec(
        kind=kind,
        binary=str(binary),
        device_args=device_args if kind == "lwip" else [],
        link_args=link_args,
        seed=seed,
        pcap=str(cell_dir / "capture-device.pcap"),
        timeline=str(cell_dir / "device.csv"),
        log_dir=str(cell_dir),
        duration_s=duration_s + 30,
    )
    spec_path = cell_dir / "cell-spec.json"
    spec_path.write_text(
        json.dumps(
            {
                "cell_dir": str(cell_dir),
                "device": spec.__dict__,
                "locust": None,
                "cooldown_s": duration_s,
            }
        )
    )
    box = Sandbox(
        [sys.executable, "-m", "closebench.pipeline.cell_inside", str(spec_path)],
        log=cell_dir / "sandbox.log",
    )
    try:
        wait_ready(cell_dir / "sandbox.log", box)
    except BaseException:
        box.stop()
        raise
    return box


def wait_ready(path: Path, box: Sandbox, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and b"bench ready" in path.read_bytes():
            return
        if box.proc.poll() is not None:
            raise UserError(f"the bench stopped before it was ready: see {path}")
        time.sleep(0.05)
    raise UserError(f"the bench was not ready within {timeout:.0f} s: see {path}")
