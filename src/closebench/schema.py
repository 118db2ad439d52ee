"""The result schema: its version, and the one reader and writer of a run directory's JSON.

Every writer stamps RESULT_SCHEMA_VERSION and writes through `write_json` (a temporary name,
then a rename, so a reader never sees half a file); every reader of a run goes through
`read_manifest`, which refuses another version unless it is the re-analysis that upgrades it.

2: connections.parquet gained link_lost_pkts, stack_fault and loss_recovery; metrics.json's
   analysis section stack_fault and loss_recovery (results/README.md). Runs of version 1 are
   re-derived from their captures with `closebench report RUN --reanalyse`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from closebench.errors import UserError

RESULT_SCHEMA_VERSION = 2

# device.csv (results/README.md): what every device writes, in this order. The emulated
# device's C program writes the same header (firmware_variants/device/timeline.c; a test
# compares them). heap_free: the emulated chip's heap left (empty without a [heap] budget),
# or what a real board's poller read.
DEVICE_CSV_COLUMNS = (
    "epoch_s", "t_ms", "reason", "led", "listen", "syn_rcvd", "established", "fin_wait_1",
    "fin_wait_2", "close_wait", "closing", "last_ack", "time_wait", "pcbs", "mem_used",
    "mem_max", "memp_tcp_pcb_used", "memp_tcp_seg_used", "memp_pbuf_used", "alloc_fail",
    "syn_dropped", "culled", "rx_frames", "tx_frames", "link_drop_in", "link_drop_out",
    "heap_free",
)  # fmt: skip
HARDWARE_DEVICE_CSV_COLUMNS = DEVICE_CSV_COLUMNS


def read_manifest(
    run_dir: Path, *, any_version: bool = False, exit_code: int = 1
) -> dict[str, Any]:
    """RUN_DIR/manifest.json as a dict; a missing, damaged or other-version manifest is a
    one-line error (any_version: for the re-analysis, which upgrades old runs)."""
    path = Path(run_dir) / "manifest.json"
    if not path.is_file():
        raise UserError(
            f"{run_dir}: no manifest.json; is this a closebench run directory?", exit_code=exit_code
        )
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})", exit_code=exit_code) from None
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: expected a JSON object", exit_code=exit_code)
    version = manifest.get("schema_version")
    if not any_version and version != RESULT_SCHEMA_VERSION:
        raise UserError(
            f"{path}: result schema_version {version}, this closebench reads "
            f"{RESULT_SCHEMA_VERSION}; re-derive the run with `closebench report {run_dir} "
            f"--reanalyse`",
            exit_code=exit_code,
        )
    return manifest


def write_json(path: Path, data: Any, indent: int = 1, default: Callable[[Any], Any] = str) -> None:
    """Write JSON under a temporary name and rename it over PATH (atomic on one filesystem)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=indent, default=default) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
