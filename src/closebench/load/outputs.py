"""What a locust run leaves, made ready for the cell: requests.csv whole, locust's CSVs named,
and the load's figures (metrics.json's "load" section) counted from requests.csv."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from closebench.load.request_log import REQUESTS_HEADER

FAILURE_KINDS = (
    "connect_timeout",
    "reset",
    "refused",
    "timeout",
    "http_error",
    "interrupted",
    "other",
)


def _merge_request_parts(out_dir: Path) -> Path:
    """Join the per-process requests.csv parts into one file ordered by start time."""
    target = out_dir / "requests.csv"
    parts = sorted(out_dir.glob("requests.csv.part-*"))
    if not parts:
        if not target.exists():
            target.write_text(REQUESTS_HEADER)
        return target
    rows: list[tuple[float, str]] = []
    for part in parts:
        with part.open() as fh:
            next(fh, None)  # each part has its own header
            for line in fh:
                if line.strip():
                    rows.append((float(line.split(",", 1)[0]), line))
    rows.sort(key=lambda row: row[0])
    tmp = target.with_suffix(".csv.tmp")
    with tmp.open("w") as fh:
        fh.write(REQUESTS_HEADER)
        fh.writelines(line if line.endswith("\n") else line + "\n" for _, line in rows)
    os.replace(tmp, target)
    for part in parts:
        part.unlink()
    return target


def _percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (no interpolation: the value is a real request's latency)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return round(sorted_values[rank - 1], 3)


def locust_request_count(out_dir: Path) -> int | None:
    """Requests locust itself counted (load.csv, Aggregated row), for cross-checks."""
    path = Path(out_dir) / "load.csv"
    if not path.exists():
        return None
    with path.open() as fh:
        for row in csv.DictReader(fh):
            if row.get("Name") == "Aggregated":
                return int(row["Request Count"])
    return None


def _name_locust_csvs(out_dir: Path) -> None:
    # The locustfile writes *.final.csv at exit: locust's own periodic files miss the last
    # second. Keep the periodic one only when the final one is missing (a crashed run).
    for periodic, final, target in (
        ("load_stats.csv", "load_stats.final.csv", "load.csv"),
        ("load_failures.csv", "load_failures.final.csv", "load_failures.csv"),
    ):
        if (out_dir / final).exists():
            shutil.move(out_dir / final, out_dir / target)
            if periodic != target:
                (out_dir / periodic).unlink(missing_ok=True)
        elif periodic != target and (out_dir / periodic).exists():
            shutil.move(out_dir / periodic, out_dir / target)
    for name in ("load_stats_history.csv", "load_failures.csv"):
        if not (out_dir / name).exists():
            (out_dir / name).write_text("")


def request_figures(requests_csv: Path) -> dict[str, Any]:
    """Counts, failure kinds, latency percentiles and the load's span from requests.csv."""
    failures = dict.fromkeys(FAILURE_KINDS, 0)
    latencies: list[float] = []
    ok = failed = 0
    first_start = math.inf
    last_end = -math.inf
    with requests_csv.open() as fh:
        for row in csv.DictReader(fh):
            start = float(row["start_epoch_s"])
            latency = float(row["latency_ms"])
            first_start = min(first_start, start)
            last_end = max(last_end, start + latency / 1000)
            if row["ok"] == "1":
                ok += 1
                latencies.append(latency)
            else:
                failed += 1
                kind = row["error_kind"]
                failures[kind if kind in failures else "other"] += 1
    latencies.sort()
    requests = ok + failed
    span = last_end - first_start if requests else 0.0
    return {
        "requests": requests,
        "ok": ok,
        "failed": failed,
        "failures": failures,
        # Latency of successful requests only: a refused SYN's 0.1 ms is not a latency.
        "latency_ms_p50": _percentile(latencies, 50),
        "latency_ms_p99": _percentile(latencies, 99),
        "rps": round(requests / span, 2) if span > 0 else None,
        # the load as the wire saw it: first request sent, last request ended
        "first_request_epoch_s": first_start if requests else None,
        "last_request_end_epoch_s": last_end if requests else None,
    }


def finalize_load_outputs(out_dir: Path) -> dict[str, Any]:
    """Name locust's CSVs as results/README.md says; return metrics.json's "load" section.

    load_stats.csv -> load.csv (load_stats_history.csv and load_failures.csv keep their
    names; load_exceptions.csv, locust's user-code errors, is kept as is); the requests.csv
    parts written by each locust process are merged. Figures come from requests.csv, the
    one-row-per-request record, not from locust's rounded stats.
    The orchestrator adds `syns_in_capture` and `connections_match_requests`.
    """
    out_dir = Path(out_dir)
    _name_locust_csvs(out_dir)
    section = request_figures(_merge_request_parts(out_dir))
    workers = out_dir / "load-workers.json"
    if workers.exists():  # a distributed run: what each locust worker sent (the locustfile)
        section["workers"] = json.loads(workers.read_text())
    return section
