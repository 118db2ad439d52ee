"""Re-derive a run's analysis from its cell folders, without measuring again.

After an analyzer change, every measured cell gets its connections.parquet and metrics.json
rebuilt from what the folder holds (both captures, requests.csv, device.csv, events.json,
inner.json), exactly as the run itself derived them. The cell's identity (metrics.json's
`cell`) is kept; a ramp profile's summary is rebuilt when the profile is still defined.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from closebench.bench import netsetup
from closebench.errors import UserError


def reanalyse_run(run_dir: Path, log: Callable[[str], None] = print) -> int:
    """Re-derive every measured cell of run_dir; returns how many cells were redone."""
    from closebench.bench.cell import analyse
    from closebench.load import load_profile
    from closebench.ramp import ramp_summary
    from closebench.report.data import read_manifest

    manifest = read_manifest(run_dir)
    hardware = manifest.get("hardware") or {}
    device_ip = hardware.get("device_address", netsetup.DEVICE_IP)
    port = int(hardware.get("http_port", 80))
    cells = [c for c in manifest.get("cells", []) if c.get("status") == "ok"]
    for index, cell in enumerate(cells, 1):
        cell_dir = run_dir / cell["id"]
        inner_path = cell_dir / "inner.json"
        if not inner_path.is_file():
            raise UserError(f"{inner_path}: missing; the cell cannot be re-derived")
        log(f"reanalyse {index}/{len(cells)}: {cell['id']}")
        old = _json_or_empty(cell_dir / "metrics.json")
        metrics = analyse(
            None, cell_dir, json.loads(inner_path.read_text()), device_ip=device_ip, port=port
        )
        if "cell" in old:
            metrics["cell"] = old["cell"]
        profile = _profile_or_none(load_profile, cell.get("profile", ""))
        if profile is not None and (ramp := ramp_summary(cell_dir / "requests.csv", profile)):
            metrics["load"]["ramp"] = ramp
        (cell_dir / "metrics.json").write_text(json.dumps(metrics, indent=1, default=str))
    return len(cells)


def _json_or_empty(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _profile_or_none(loader: Callable[[str], Any], name: str) -> Any:
    try:
        return loader(name)
    except UserError:
        return None  # a profile file that is gone: no ramp summary, the rest stands
