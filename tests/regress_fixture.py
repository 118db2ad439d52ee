"""Run directories whose connections are SAMPLED from a seeded stochastic close model.

What the regression tests check is the statistics, so the fixture draws connections from a
known model: two runs from one model must not be called a regression (except at the
advertised false-positive rate), and a run from a changed model must be. The files follow
results/README.md (schema version 1); captures and load files are not written because
regress never reads them.

Model of one cell (the defaults look like a mildly faulty lwIP stack on wifi-good):
- close_kind ~ Multinomial(connections, kinds); graceful closes are faulty with probability
  `fin_retx` (a retransmitted FIN after link loss: loss recovery, not a stack fault), every
  other kind is faulty and a stack fault;
- a faulty connection duels with probability `duel_given_fault`;
- teardown_ms ~ LogNormal(ln(teardown_ms_median), 0.6), duels ~ LogNormal(ln 2500, 0.8),
  all multiplied by `teardown_scale`;
- teardown_pkts = 4 + Poisson(0.3) (clean close), 5 + Poisson(2) (faulty), 10 + Poisson(15)
  (duel);
- a duel is still active after the load stops with probability `late_duel`, for
  Exp(1000 ms) capped at the cooldown;
- device peak PCBs = peak_pcbs + Binomial(2, 0.3) (a PCB more or less between runs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from closebench.regress.baseline import stats_from_frame
from closebench.schema import RESULT_SCHEMA_VERSION

KINDS = {
    "graceful": 0.90,
    "rst_device": 0.02,
    "rst_client": 0.01,
    "rst_after_fin": 0.02,
    "half_closed": 0.03,
    "abandoned": 0.01,
    "refused": 0.0,
    "syn_unanswered": 0.01,
}
PARAMS = {"duel_min_ms": 1000.0, "clean_teardown_pkts": 4}
COOLDOWN_S = 30.0
RUN_TIME_S = 120.0


@dataclass(frozen=True)
class CellModel:
    connections: int = 400
    kinds: dict[str, float] = field(default_factory=lambda: dict(KINDS))
    fin_retx: float = 0.02
    duel_given_fault: float = 0.3
    teardown_ms_median: float = 40.0
    teardown_scale: float = 1.0
    late_duel: float = 0.3
    peak_pcbs: int = 4

    def with_kind(self, kind: str, rate: float) -> CellModel:
        """Move `rate` of probability mass onto `kind`, taking it from graceful."""
        kinds = dict(self.kinds)
        kinds["graceful"] -= rate - kinds[kind]
        kinds[kind] = rate
        return replace(self, kinds=kinds)


def sample_connections(
    model: CellModel, rng: np.random.Generator, load_stop: float
) -> pd.DataFrame:
    """One connections.parquet table with every column of the result schema."""
    n = model.connections
    names = list(model.kinds)
    probs = np.array([model.kinds[k] for k in names])
    kind = np.array(names)[rng.choice(len(names), size=n, p=probs / probs.sum())]
    graceful = kind == "graceful"
    faulty = ~graceful | (rng.random(n) < model.fin_retx)
    duel = faulty & (rng.random(n) < model.duel_given_fault)
    no_teardown = np.isin(kind, ["abandoned", "syn_unanswered"])
    teardown_ms = (
        np.where(
            duel,
            rng.lognormal(np.log(2500.0), 0.8, n),
            rng.lognormal(np.log(model.teardown_ms_median), 0.6, n),
        )
        * model.teardown_scale
    )
    teardown_ms[no_teardown] = np.nan
    pkts = np.where(
        duel,
        10 + rng.poisson(15, n),
        np.where(faulty, 5 + rng.poisson(2, n), 4 + rng.poisson(0.3, n)),
    )
    pkts[no_teardown] = 0
    late = duel & (rng.random(n) < model.late_duel)
    after = np.where(late, np.minimum(rng.exponential(1000.0, n), COOLDOWN_S * 1000), 0.0)
    first = load_stop - RUN_TIME_S + np.sort(rng.uniform(0, RUN_TIME_S, n))
    duration = np.nan_to_num(teardown_ms) + 5.0
    last = np.where(late, load_stop + after / 1000, np.minimum(first + duration / 1000, load_stop))
    closer = np.where(
        kind == "rst_client",
        "client",
        np.where(np.isin(kind, ["abandoned", "syn_unanswered"]), "none", "device"),
    )
    return pd.DataFrame(
        {
            "conn_id": np.arange(n),
            "stream": np.arange(n),
            "client_ip": "198.18.0.1",
            "client_port": 40000 + np.arange(n) % 20000,
            "device_ip": "198.18.0.2",
            "device_port": 80,
            "first_ts": first,
            "last_ts": last,
            "duration_ms": (last - first) * 1000,
            "pkts": pkts + 6,
            "pkts_client": (pkts + 6) // 2,
            "pkts_device": (pkts + 7) // 2,
            "bytes_client": 60,
            "bytes_device": 180,
            "syn": 1,
            "synack": (kind != "syn_unanswered").astype(int),
            "fin_client": graceful.astype(int),
            "fin_device": graceful.astype(int),
            "rst_client": (kind == "rst_client").astype(int),
            "rst_device": np.isin(kind, ["rst_device", "rst_after_fin", "refused"]).astype(int),
            "retx": duel.astype(int) * 3,
            "fin_retx_device": duel.astype(int) * 2,
            "fin_retx_client": 0,
            "syn_retx": (kind == "syn_unanswered").astype(int),
            "state": np.where(graceful, "SF", "OTH"),
            "history": np.where(graceful, "ShADadFf", "ShR"),
            "closer": closer,
            "close_kind": kind,
            "teardown_pkts": pkts.astype(np.int64),
            "teardown_dupacks": duel.astype(int),
            "teardown_ms": teardown_ms,
            "after_load_ms": after,
            "faulty": faulty,
            "duel": duel,
            "link_lost_pkts": np.where(graceful & faulty, 1.0, 0.0),
            "stack_fault": ~graceful,
            "loss_recovery": graceful & faulty,
        }
    )


def metrics_for(
    conns: pd.DataFrame, cell: dict[str, Any], model: CellModel, rng: np.random.Generator
) -> dict[str, Any]:
    """metrics.json as the analyzer would write it from this table."""
    n = len(conns)
    kinds = conns["close_kind"].value_counts()
    td = conns["teardown_ms"].dropna()
    peak = model.peak_pcbs + int(rng.binomial(2, 0.3))
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "cell": cell,
        "analysis": {
            "connections": n,
            "packets": int(conns["pkts"].sum()),
            "skipped_packets": 0,
            "close_kind": {
                k: {
                    "count": int(kinds.get(k, 0)),
                    "rate": kinds.get(k, 0) / n,
                    "ci_low": None,
                    "ci_high": None,
                }
                for k in KINDS
            },
            "faulty": {"count": int(conns["faulty"].sum()), "rate": conns["faulty"].mean()},
            "duels": int(conns["duel"].sum()),
            "teardown_ms_p50": float(td.quantile(0.5)),
            "teardown_ms_p99": float(td.quantile(0.99)),
            "teardown_pkts_per_conn": float(conns["teardown_pkts"].mean()),
            "after_load_ms_max": float(conns["after_load_ms"].max()),
            "params": dict(PARAMS),
        },
        "load": {"requests": n, "ok": n, "failed": 0, "failures": {}},
        "capture": {"client": {"packets": int(conns["pkts"].sum())}, "complete": True},
        "device": {
            "peak_pcbs": peak,
            "peak_time_wait": max(0, peak - 2),
            "alloc_fail": 0,
            "syn_dropped": 0,
            "culled": 0,
        },
    }


def cell_id(variant: str, profile: str, link: str, rep: int) -> str:
    return f"{variant}__{profile}__{link}__r{rep}"


DEFAULT_VARIANTS = ("nodemcu-2016", "nodemcu-3.0")
DEFAULT_LINKS = ("wifi-good", "wifi-lossy")


def cells_of(
    variants: tuple[str, ...] = DEFAULT_VARIANTS,
    profiles: tuple[str, ...] = ("head-5rps",),
    links: tuple[str, ...] = DEFAULT_LINKS,
    reps: int = 1,
) -> list[dict[str, Any]]:
    return [
        {
            "id": cell_id(v, p, link, r),
            "variant": v,
            "profile": p,
            "link": link,
            "repetition": r,
            "lwip": "1.4.0",
            "seed": 1000 + i,
        }
        for i, (v, p, link, r) in enumerate(
            (v, p, link, r)
            for v in variants
            for p in profiles
            for link in links
            for r in range(1, reps + 1)
        )
    ]


def sample_cells(
    seed: int, models: dict[str, CellModel] | None = None, **axes: Any
) -> list[tuple[dict[str, Any], pd.DataFrame, dict[str, Any]]]:
    """(cell, connections, metrics) for every cell; `models` maps variant -> model."""
    rng = np.random.default_rng(seed)
    out = []
    for cell in cells_of(**axes):
        model = (models or {}).get(cell["variant"], CellModel())
        conns = sample_connections(model, rng, load_stop=1.7e9)
        out.append((cell, conns, metrics_for(conns, cell, model, rng)))
    return out


def sample_stats(seed: int, models: dict[str, CellModel] | None = None, **axes: Any) -> dict:
    """Per-cell CellStats straight from sampled tables (the fast path for many pairs)."""
    return {
        cell["id"]: stats_from_frame(conns, metrics, cell["id"])
        for cell, conns, metrics in sample_cells(seed, models, **axes)
    }


def write_run(
    root: Path,
    name: str,
    seed: int,
    models: dict[str, CellModel] | None = None,
    complete: bool = True,
    **axes: Any,
) -> Path:
    """A run directory per results/README.md (no captures), from the model."""
    run = root / name
    run.mkdir(parents=True)
    cells = sample_cells(seed, models, **axes)
    for cell, conns, metrics in cells:
        folder = run / cell["id"]
        folder.mkdir()
        conns.to_parquet(folder / "connections.parquet", index=False)
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=1))
    matrix_cells = [c for c, _, _ in cells]
    manifest = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "run_id": name,
        "suite": {"version": "0.1.0", "git_sha": "0" * 40, "git_dirty": False},
        "host": {"kernel": "6.1", "python": "3.11", "machine": "x86_64", "cpus": 2},
        "tools": {},
        "backend": "emulated",
        "matrix": {
            "variants": sorted({c["variant"] for c in matrix_cells}),
            "profiles": sorted({c["profile"] for c in matrix_cells}),
            "links": sorted({c["link"] for c in matrix_cells}),
            "repetitions": max(c["repetition"] for c in matrix_cells),
            "lwip": None,
        },
        "run_time_s": RUN_TIME_S,
        "cooldown_s": COOLDOWN_S,
        "variants": {
            v: {
                "name": v,
                "kind": "lwip",
                "stack": "lwip",
                "source": "approximation on lwIP 2.1.3 (approximation chosen)",
                "exact_source": False,
                "lwip_build": "1.4.0",
                "options": {},
            }
            for v in sorted({c["variant"] for c in matrix_cells})
        },
        "profiles": {
            p: {"name": p, "rate": 5} for p in sorted({c["profile"] for c in matrix_cells})
        },
        "links": {link: {"name": link} for link in sorted({c["link"] for c in matrix_cells})},
        "seeds": {c["id"]: c["seed"] for c in matrix_cells},
        "cells": [
            {k: c[k] for k in ("id", "variant", "profile", "link", "repetition", "lwip")}
            | {"status": "ok"}
            for c in matrix_cells
        ],
        "started": "2024-06-01T00:00:00+00:00",
        "finished": "2024-06-01T01:00:00+00:00",
        "complete": complete,
    }
    (run / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return run
