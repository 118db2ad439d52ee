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
from closebench.schema import RESULT_SCHEMA_VERSION, read_manifest, write_json

ANALYSIS_FAILED = "failed: analysis:"  # measured whole, but the analysis broke


def _redoable(cell: dict[str, Any]) -> bool:
    status = str(cell.get("status", ""))
    return status == "ok" or status.startswith(ANALYSIS_FAILED)


def reanalyse_run(run_dir: Path, log: Callable[[str], None] = print) -> int:
    """Re-derive every measured cell of run_dir; returns how many cells were redone.

    A cell whose measurement finished but whose analysis failed during the run is re-derived
    too and, on success, marked ok in the manifest (its captures were never lost).
    """
    from closebench.load.profiles import load_profile
    from closebench.pipeline.cell import analyse

    manifest = read_manifest(run_dir, any_version=True)  # this is what upgrades an old run
    hardware = manifest.get("hardware") or {}
    device_ip = hardware.get("device_address", netsetup.DEVICE_IP)
    port = int(hardware.get("http_port", 80))
    cells = [c for c in manifest.get("cells", []) if _redoable(c)]
    for index, cell in enumerate(cells, 1):
        cell_dir = run_dir / cell["id"]
        inner_path = cell_dir / "inner.json"
        if not inner_path.is_file():
            raise UserError(f"{inner_path}: missing; the cell cannot be re-derived")
        log(f"reanalyse {index}/{len(cells)}: {cell['id']}")
        old = _json_or_empty(cell_dir / "metrics.json")
        analyse(
            None,
            cell_dir,
            json.loads(inner_path.read_text()),
            device_ip=device_ip,
            port=port,
            identity=old.get("cell") or _cell_section(cell, manifest),
            profile=_profile_or_none(load_profile, cell.get("profile", "")),
        )
        if cell.get("status") != "ok":
            log(f"  {cell['id']}: was '{cell['status']}', now ok")
            cell["status"] = "ok"
            cell["reanalysed"] = True
    if any(c.get("reanalysed") for c in cells) or manifest.get("schema_version") != (
        RESULT_SCHEMA_VERSION
    ):
        manifest["schema_version"] = RESULT_SCHEMA_VERSION  # every cell is re-derived now
        write_json(run_dir / "manifest.json", manifest)
    return len(cells)


def _cell_section(cell: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """metrics.json's `cell` from the manifest, for a cell whose analysis never wrote one."""
    keys = ("id", "variant", "profile", "link", "repetition", "lwip")
    return {k: cell.get(k) for k in keys} | {"seed": (manifest.get("seeds") or {}).get(cell["id"])}


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
