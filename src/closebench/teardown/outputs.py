"""Write connections.parquet and merge the "analysis" section into metrics.json."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from closebench.errors import UserError
from closebench.schema import RESULT_SCHEMA_VERSION as SCHEMA_VERSION
from closebench.teardown.analyze import AnalysisResult
from closebench.teardown.attribution import attribute, attribution_summary


def write_outputs(
    result: AnalysisResult,
    out_dir: str | Path,
    device_view: AnalysisResult | None = None,
    sections: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """device_view: the analysis of the device's own capture of the same connections, which
    lets each close's extra packets be put down to the link or to a stack (attribution.py).
    sections: the cell's other metrics.json sections (load, capture, device, cell), written
    in the same pass so the file is written once."""
    if device_view is None:
        result.connections = attribute(result.connections, None)
    else:
        captures = (Path(result.source), Path(device_view.source))
        result.connections = attribute(
            result.connections, device_view.connections, captures=captures
        )
    result.summary |= attribution_summary(result.connections)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output folder {out}: {exc.strerror}") from None
    parquet = out / "connections.parquet"
    metrics_path = out / "metrics.json"
    metrics = _existing_metrics(metrics_path)  # refuse a bad one before writing anything
    metrics.setdefault("schema_version", SCHEMA_VERSION)
    metrics.update(sections or {})
    metrics["analysis"] = result.summary
    # Both files go to temporary names and are renamed only once both are written: a
    # failure (disk full, interrupt) leaves neither a partial file nor a half-updated pair.
    tmp_parquet = out / ".connections.parquet.tmp"
    tmp_metrics = out / ".metrics.json.tmp"
    try:
        result.connections.to_parquet(tmp_parquet, index=False)
        tmp_metrics.write_text(json.dumps(metrics, indent=2, sort_keys=False) + "\n")
        os.replace(tmp_parquet, parquet)
        os.replace(tmp_metrics, metrics_path)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        tmp_parquet.unlink(missing_ok=True)
        tmp_metrics.unlink(missing_ok=True)
    return parquet, metrics_path


def _existing_metrics(metrics_path: Path) -> dict:
    """metrics.json as written by other steps (other sections are kept), or {}."""
    if not metrics_path.exists():
        return {}
    try:
        metrics = json.loads(metrics_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{metrics_path}: existing file is not valid JSON ({exc})") from None
    if not isinstance(metrics, dict):
        raise UserError(f"{metrics_path}: existing file is not a JSON object")
    return metrics
