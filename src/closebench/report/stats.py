"""The report's numbers: fault rates with Wilson intervals, per-stack aggregates, verdicts.

Rates are recomputed from connections.parquet (pooling repetitions) rather than averaged from
each cell's metrics.json, so a pooled interval reflects every connection, not a mean of means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from closebench.report.data import RunData
from closebench.teardown.classify import CLOSE_KINDS
from closebench.teardown.rates import wilson as analysis_wilson

RESET_KINDS = ("rst_device", "rst_client", "rst_after_fin")


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson 95 % interval, the analyzer's own (metrics.json); (nan, nan) when n == 0.

    Wilson rather than the normal approximation because fault counts are often 0 or n,
    where the normal interval collapses to a width of zero.
    """
    if n <= 0:
        return (math.nan, math.nan)
    return analysis_wilson(k, n)


def fault_table(run: RunData) -> pd.DataFrame:
    """One row per stack x condition: cells, connections, stack faults, rate, CI, loss
    recovery, duels. The rate is of stack faults (results/README.md); a run of schema 1,
    which has no stack_fault column, falls back to `faulty`.

    Cells that failed or have no analysis still get a row (with n = 0 and a status) so
    the reader sees the hole instead of a silently missing line.
    """
    conns = run.connections
    rows = []
    groups: dict[tuple[str, str], list] = {}
    for cell in run.cells:
        groups.setdefault((cell.stack, cell.condition), []).append(cell)
    for (stack, condition), cells in groups.items():
        ids = [c.id for c in cells if c.ok]
        sub = conns[conns["cell_id"].isin(ids)] if not conns.empty else conns
        n = len(sub)
        column = "stack_fault" if "stack_fault" in sub else "faulty"
        k = int(sub[column].sum()) if n and column in sub else 0
        recovered = int(sub["loss_recovery"].sum()) if n and "loss_recovery" in sub else 0
        duels = int(sub["duel"].sum()) if n and "duel" in sub else 0
        lo, hi = wilson(k, n)
        failed = [c for c in cells if not c.ok]
        status = "ok" if not failed else "; ".join(f"r{c.repetition} {c.status}" for c in failed)
        rows.append(
            {
                "stack": stack,
                "condition": condition,
                "cells": len(ids),
                "connections": n,
                "faulty": k,
                "rate": k / n if n else math.nan,
                "loss_recovery": recovered,
                "ci_low": lo,
                "ci_high": hi,
                "duels": duels,
                "status": status,
            }
        )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    order = {s: i for i, s in enumerate(run.stacks)}
    frame["_o"] = frame["stack"].map(order)
    return frame.sort_values(["_o", "condition"]).drop(columns="_o").reset_index(drop=True)


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
