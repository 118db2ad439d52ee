"""Write connections.parquet and merge the "analysis" section into metrics.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

from closebench.analysis.capture import AnalysisResult
from closebench.errors import UserError

SCHEMA_VERSION = 1


def write_outputs(result: AnalysisResult, out_dir: str | Path) -> tuple[Path, Path]:
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
