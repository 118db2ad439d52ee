"""The report's numbers: fault rates with Wilson intervals, per-stack aggregates, verdicts.

Rates are recomputed from connections.parquet (pooling repetitions) rather than averaged from
each cell's metrics.json, so a pooled interval reflects every connection, not a mean of means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from closebench.report import stability
from closebench.report.data import RunData
from closebench.teardown.classify import CLOSE_KINDS
from closebench.teardown.rates import wilson as analysis_wilson

RESET_KINDS = ("rst_device", "rst_client", "rst_after_fin")
CELL_COUNT_COLUMNS = [
    "cell_id", "stack", "condition", "repetition", "ok", "status",
    "connections", "faulty", "loss_recovery", "duels",
]  # fmt: skip


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson 95 % interval, the analyzer's own (metrics.json); (nan, nan) when n == 0.

    Wilson rather than the normal approximation because fault counts are often 0 or n,
    where the normal interval collapses to a width of zero.
    """
    if n <= 0:
        return (math.nan, math.nan)
    return analysis_wilson(k, n)


def fault_column(conns: pd.DataFrame) -> str:
    """The column every rate of the report counts: `stack_fault`, or in a run of schema 1
    (before stack_fault existed) `faulty`, which also counts closes the link's loss caused."""
    return "stack_fault" if "stack_fault" in conns or "faulty" not in conns else "faulty"


def cell_counts(run: RunData) -> pd.DataFrame:
    """One row per cell of the manifest: its connections, faults, loss recoveries and duels
    (0 for a cell that failed or captured nothing). The report's only count of faults: the
    fault table, the excess table and the repetition check (report/stability.py) all pool it.
    """
    conns = run.connections
    column = fault_column(conns)
    parts = dict(tuple(conns.groupby("cell_id"))) if "cell_id" in conns else {}
    rows = []
    for cell in run.cells:
        sub = parts.get(cell.id) if cell.ok else None
        sub = sub if sub is not None else conns.iloc[:0]
        rows.append(
            {
                "cell_id": cell.id,
                "stack": cell.stack,
                "condition": cell.condition,
                "repetition": cell.repetition,
                "ok": cell.ok,
                "status": cell.status,
                "connections": len(sub),
                "faulty": _true(sub, column),
                "loss_recovery": _true(sub, "loss_recovery"),
                "duels": _true(sub, "duel"),
            }
        )
    return pd.DataFrame(rows, columns=CELL_COUNT_COLUMNS)


def _true(frame: pd.DataFrame, column: str) -> int:
    return int(frame[column].astype(bool).sum()) if column in frame else 0


def condition_counts(run: RunData) -> pd.DataFrame:
    """`cell_counts` pooled per stack x condition (repetitions together), in stack order, with
    the most frequent faulty close kind and whether the repetitions disagree (stability.py)."""
    cells = cell_counts(run)
    if cells.empty:
        return pd.DataFrame()
    unstable = {(d.stack, d.condition) for d in stability.disagreements(cells)}
    rows = []
    for (stack, condition), part in cells.groupby(["stack", "condition"], sort=False):
        failed = [
            f"r{r} {s}"
            for r, s, ok in part[["repetition", "status", "ok"]].itertuples(index=False)
            if not ok
        ]
        rows.append(
            {
                "stack": stack,
                "condition": condition,
                "cells": int(part["ok"].sum()),
                "connections": int(part["connections"].sum()),
                "faulty": int(part["faulty"].sum()),
                "loss_recovery": int(part["loss_recovery"].sum()),
                "duels": int(part["duels"].sum()),
                "status": "; ".join(failed) or "ok",
                "dominant_kind": _dominant_kind(run.connections, part["cell_id"]),
                "unstable": (stack, condition) in unstable,
            }
        )
    frame = pd.DataFrame(rows)
    order = {s: i for i, s in enumerate(run.stacks)}
    frame["_o"] = frame["stack"].map(order)
    return frame.sort_values(["_o", "condition"]).drop(columns="_o").reset_index(drop=True)


def _dominant_kind(conns: pd.DataFrame, cell_ids: pd.Series) -> str | None:
    """The most frequent close kind among the faulty connections of these cells."""
    column = fault_column(conns)
    if column not in conns or "close_kind" not in conns:
        return None
    sub = conns[conns["cell_id"].isin(cell_ids)]
    faulty = sub[sub[column].astype(bool)]
    if faulty.empty:
        return None
    return str(faulty["close_kind"].astype(str).value_counts().idxmax())


def fault_table(run: RunData) -> pd.DataFrame:
    """One row per stack x condition: cells, connections, stack faults, rate, CI, loss
    recovery, duels, whether its repetitions disagree. The rate is of stack faults
    (results/README.md); a run of schema 1, which has no stack_fault column, falls back to
    `faulty` (fault_column).

    Cells that failed or have no analysis still get a row (with n = 0 and a status) so
    the reader sees the hole instead of a silently missing line.
    """
    frame = condition_counts(run)
    if frame.empty:
        return frame
    n, k = frame["connections"], frame["faulty"]
    bounds = [wilson(int(a), int(b)) for a, b in zip(k, n, strict=True)]
    return frame.assign(
        rate=[a / b if b else math.nan for a, b in zip(k, n, strict=True)],
        ci_low=[lo for lo, _ in bounds],
        ci_high=[hi for _, hi in bounds],
    )


def fmt_rate(rate: float, lo: float, hi: float) -> str:
    """'12.3% [8.1–17.9]', or 'no data'."""
    if rate is None or math.isnan(rate):
        return "no data"
    return f"{rate:.1%} [{lo:.1%}–{hi:.1%}]"


@dataclass
class StackSummary:
    stack: str
    connections: int
    faulty: int  # stack faults (faulty in runs of schema 1)
    resets: int
    half_closed: int
    fin_retx: int
    duels: int
    after_load_s: float  # longest after-load activity of any connection, seconds
    teardown_p50_ms: float
    failed_cells: int
    cells: int
    syn_met_old: int = 0  # new connections whose SYN the device answered with a bare ACK
    not_measured: str = ""  # why no cell ran (e.g. the variant failed its verify probes)

    @property
    def verdict(self) -> str:
        return verdict(self)


def stack_summaries(run: RunData) -> list[StackSummary]:
    conns = run.connections
    out = []
    for stack in run.stacks:
        cells = [c for c in run.cells if c.stack == stack]
        ok_ids = [c.id for c in cells if c.ok]
        sub = conns[conns["cell_id"].isin(ok_ids)] if not conns.empty else pd.DataFrame()

        def count(mask: pd.Series) -> int:
            return int(mask.sum())

        if sub.empty:
            out.append(
                StackSummary(
                    stack,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    math.nan,
                    math.nan,
                    len(cells) - len(ok_ids),
                    len(cells),
                    not_measured=next(
                        (c.status for c in cells if c.status.startswith("skipped")), ""
                    ),
                )
            )
            continue
        kind = sub.get("close_kind", pd.Series(dtype=str))
        fin_retx = sub.get("fin_retx_device", 0) + sub.get("fin_retx_client", 0)
        after = pd.to_numeric(sub.get("after_load_ms"), errors="coerce")
        tear = pd.to_numeric(sub.get("teardown_ms"), errors="coerce")
        out.append(
            StackSummary(
                stack=stack,
                connections=len(sub),
                faulty=count(sub["stack_fault" if "stack_fault" in sub else "faulty"]),
                resets=count(kind.isin(RESET_KINDS)),
                half_closed=count(kind == "half_closed"),
                fin_retx=count(pd.Series(fin_retx) > 0),
                duels=count(sub["duel"]),
                after_load_s=float(after.max()) / 1000 if after.notna().any() else math.nan,
                teardown_p50_ms=float(tear.median()) if tear.notna().any() else math.nan,
                failed_cells=len(cells) - len(ok_ids),
                cells=len(cells),
                syn_met_old=count(syn_met_old_connection(sub.get("history"))),
            )
        )
    return out


def syn_met_old_connection(history: pd.Series | None) -> pd.Series:
    """Connections whose SYN the device answered with a bare ACK, never a SYN-ACK (Zeek
    history 'S' ... 'a', no 'h'): the client reused a port whose old connection the device
    still held (TIME_WAIT, or half-open), so the new one could not open."""
    if history is None:
        return pd.Series(dtype=bool)
    h = history.fillna("").astype(str)
    return h.str.startswith("S") & h.str.contains("a", regex=False) & ~h.str.contains("h")


def verdict(s: StackSummary) -> str:
    """A plain-words judgement derived only from the numbers in the summary.

    The thresholds (1% faulty for "cleanly", 1 s of after-load traffic) are deliberately
    coarse: the verdict is a headline, the tables beside it are the evidence.
    """
    if s.connections == 0:
        if s.not_measured:
            return f"not measured: {s.not_measured.removeprefix('skipped: ')}"
        if s.failed_cells:
            return f"no data: {s.failed_cells} of {s.cells} cells failed"
        return "no connections captured"
    n = s.connections
    lo, hi = wilson(s.faulty, n)
    parts = []
    if s.faulty / n < 0.01 and s.duels == 0:
        parts.append(
            f"closes cleanly ({s.faulty} stack faults in {n} connections, 95% CI up to {hi:.1%})"
        )
    else:
        parts.append(
            f"stack faults in {s.faulty / n:.0%} of {n} connections (95% CI {lo:.0%}–{hi:.0%})"
        )
    if s.resets:
        parts.append(f"resets {s.resets / n:.0%} of connections")
    if s.half_closed:
        parts.append(f"leaves {s.half_closed / n:.0%} half-closed")
    if s.fin_retx:
        parts.append(f"retransmits FIN in {s.fin_retx / n:.0%}")
    if s.duels:
        parts.append(f"{s.duels} teardown duel" + ("s" if s.duels > 1 else ""))
    if s.syn_met_old:
        parts.append(
            f"{s.syn_met_old} new connection"
            + (" was" if s.syn_met_old == 1 else "s were")
            + " blocked by an old one it still held (port reuse: SYN answered by a bare ACK)"
        )
    if not math.isnan(s.after_load_s) and s.after_load_s >= 1.0:
        parts.append(f"keeps exchanging packets {s.after_load_s:.1f} s after the load stops")
    if s.failed_cells:
        parts.append(f"{s.failed_cells} of {s.cells} cells failed")
    return "; ".join(parts)


def close_kind_mix(run: RunData) -> pd.DataFrame:
    """Share of each close_kind per stack (rows stacks, columns kinds in CLOSE_KINDS order)."""
    conns = run.connections
    if conns.empty or "close_kind" not in conns:
        return pd.DataFrame()
    counts = pd.crosstab(conns["stack"], conns["close_kind"])
    cols = [k for k in CLOSE_KINDS if k in counts] + [k for k in counts if k not in CLOSE_KINDS]
    counts = counts[cols].reindex([s for s in run.stacks if s in counts.index])
    return counts
