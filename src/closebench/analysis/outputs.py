"""Write connections.parquet and merge the "analysis" section into metrics.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from closebench.analysis.attribution import attribute, attribution_summary
from closebench.analysis.capture import AnalysisResult
from closebench.errors import UserError
from closebench.schema import RESULT_SCHEMA_VERSION as SCHEMA_VERSION


def write_outputs(
    result: AnalysisResult, out_dir: str | Path, device_view: pd.DataFrame | None = None
) -> tuple[Path, Path]:
    """device_view: the same connections from the device's own capture, which lets each close's
    extra packets be put down to the link or to a stack (analysis/attribution.py)."""
    result.connections = attribute(result.connections, device_view)
    result.summary |= attribution_summary(result.connections)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output folder {out}: {exc.strerror}") from None
    parquet = out / "connections.parquet"
    result.connections.to_parquet(parquet, index=False)

    metrics_path = out / "metrics.json"
    metrics: dict = {}
    if metrics_path.exists():
        try:
            metrics = json.loads(metrics_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"{metrics_path}: existing file is not valid JSON ({exc})") from None
        if not isinstance(metrics, dict):
            raise UserError(f"{metrics_path}: existing file is not a JSON object")
    metrics.setdefault("schema_version", SCHEMA_VERSION)
    metrics["analysis"] = result.summary
    # Atomic replace: other sections written by other steps are never half-lost.
    tmp = metrics_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(metrics, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, metrics_path)
    return parquet, metrics_path
