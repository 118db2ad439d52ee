"""Per-cell figures for metrics.json["analysis"]: rates with Wilson 95% intervals."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from closebench.analysis.classify import CLOSE_KINDS
from closebench.analysis.params import AnalysisParams


def rate(count: int, total: int) -> dict[str, Any]:
    """Count, rate and Wilson 95% interval; rate and bounds are None without connections."""
    if total == 0:
        return {"count": int(count), "rate": None, "ci_low": None, "ci_high": None}
    low, high = proportion_confint(count, total, alpha=0.05, method="wilson")
    return {
        "count": int(count),
        "rate": count / total,
        "ci_low": float(low),
        "ci_high": float(high),
    }


def _num(value: float) -> float | None:
    """JSON has no NaN: missing figures are null."""
    return None if value is None or math.isnan(value) else float(value)


def summarize(
    df: pd.DataFrame, packets: int, skipped: int, params: AnalysisParams
) -> dict[str, Any]:
    n = len(df)
    kinds = df["close_kind"].value_counts() if n else pd.Series(dtype="int64")
    teardown = df["teardown_ms"].dropna().to_numpy() if n else np.array([])
    after = df["after_load_ms"].dropna().to_numpy() if n else np.array([])
    return {
        "connections": n,
        "packets": int(packets),
        "skipped_packets": int(skipped),
        "close_kind": {k: rate(int(kinds.get(k, 0)), n) for k in CLOSE_KINDS},
        "faulty": rate(int(df["faulty"].sum()) if n else 0, n),
        "duels": int(df["duel"].sum()) if n else 0,
        "teardown_ms_p50": _num(float(np.percentile(teardown, 50))) if len(teardown) else None,
        "teardown_ms_p99": _num(float(np.percentile(teardown, 99))) if len(teardown) else None,
        "teardown_pkts_per_conn": float(df["teardown_pkts"].mean()) if n else None,
        "after_load_ms_max": _num(float(after.max())) if len(after) else None,
        "params": params.as_dict(),
    }
