"""The first screen: stack faults per stack against the Linux control, in numbers and words.

A stack's excess is its stack-fault rate minus the Linux control's under the same load and
link profile, with Newcombe's hybrid-score 95 % interval for a difference of two independent
proportions (built from the two Wilson intervals; Newcombe 1998, method 10). The sentences are
generated from these rows only: a claim appears when its interval supports it.
"""

from __future__ import annotations

import math

import pandas as pd

from closebench.report.data import RunData
from closebench.teardown.rates import Rate

CONTROL = "control"  # the `role` of the Linux control's rows
CLEAN_POINTS = 0.02  # an excess whose upper bound stays below this reads "as cleanly"
# What a stack does when its most frequent stack-faulty close kind is this one.
KIND_WORDS = {
    "rst_after_fin": "answers the client's FIN with a RST",
    "rst_device": "resets connections",
    "rst_client": "gets its connections reset by the client",
    "half_closed": "leaves connections half-closed",
    "abandoned": "abandons connections without a close",
    "refused": "refuses connections",
    "syn_unanswered": "leaves SYNs unanswered",
    "graceful": "retransmits FINs the link never lost (a FIN left unacknowledged)",
}


def newcombe(a: Rate, b: Rate) -> tuple[float, float, float]:
    """a.p - b.p and its 95 % interval (hybrid score, from the Wilson intervals)."""
    if not a.n or not b.n:
        return (math.nan, math.nan, math.nan)
    (l1, u1), (l2, u2) = a.ci, b.ci
    d = a.p - b.p
    low = d - math.sqrt((a.p - l1) ** 2 + (u2 - b.p) ** 2)
    high = d + math.sqrt((u1 - a.p) ** 2 + (b.p - l2) ** 2)
    return d, low, high


def _rates(sub: pd.DataFrame) -> tuple[Rate, Rate]:
    n = len(sub)
    faults = int(sub["stack_fault"].sum()) if n and "stack_fault" in sub else 0
    recovered = int(sub["loss_recovery"].sum()) if n and "loss_recovery" in sub else 0
    return Rate(faults, n), Rate(recovered, n)


def _dominant_kind(sub: pd.DataFrame) -> str | None:
    faulty = sub[sub["stack_fault"].astype(bool)] if "stack_fault" in sub else sub.iloc[:0]
    if faulty.empty:
        return None
    return str(faulty["close_kind"].astype(str).value_counts().idxmax())


def control_stacks(run: RunData) -> set[str]:
    """Stacks of the Linux control (kind "linux" in the run manifest)."""
    return {c.stack for c in run.cells if run.variant_info(c.variant).get("kind") == "linux"}


def excess_table(run: RunData) -> pd.DataFrame:
    """Per stack x condition: stack-fault and loss-recovery rates, the excess over the control."""
    conns = run.connections
    if conns.empty or "stack_fault" not in conns:
        return pd.DataFrame()
    ok = {c.id for c in run.cells if c.ok}
    conns = conns[conns["cell_id"].isin(ok)]
    cond = {c.id: c.condition for c in run.cells}
    conns = conns.assign(condition=conns["cell_id"].map(cond))
    controls = control_stacks(run)
    control = {
        condition: _rates(part)[0]
        for (stack, condition), part in conns.groupby(["stack", "condition"])
        if stack in controls
    }
    rows = []
    for (stack, condition), part in conns.groupby(["stack", "condition"], sort=False):
        faults, recovered = _rates(part)
        base = control.get(condition)
        d, low, high = newcombe(faults, base) if base else (math.nan,) * 3
        rows.append(
            {
                "stack": stack,
                "role": CONTROL if stack in controls else "stack",
                "condition": condition,
                "connections": faults.n,
                "stack_faults": faults.k,
                "stack_fault_rate": faults.p,
                "loss_recovery_rate": recovered.p,
                "excess": d,
                "excess_low": low,
                "excess_high": high,
                "dominant_kind": _dominant_kind(part),
                "duels": int(part["duel"].sum()) if "duel" in part else 0,
            }
        )
    frame = pd.DataFrame(rows)
    order = {s: i for i, s in enumerate(run.stacks)}
    frame["_o"] = frame["stack"].map(order)
    return frame.sort_values(["_o", "condition"]).drop(columns="_o").reset_index(drop=True)


def _verb(subjects: list[str], verb: str) -> str:
    return verb if len(subjects) > 1 else f"{verb}s"


def _pct(x: float) -> str:
    return f"{x:.0%}" if x >= 0.1 or x == 0 else f"{x:.1%}"


def _pp(low: float, high: float) -> str:
    return f"{100 * low:+.1f} to {100 * high:+.1f} points"


def sentences(table: pd.DataFrame, limit: int = 6) -> list[str]:
    """Three to six plain sentences, each backed by the rows of `table`."""
    if table.empty:
        return ["No connections were analysed, so there is nothing to say yet."]
    out: list[str] = []
    worse, level = [], []
    stacks = table[table["role"] != CONTROL]
    if stacks["excess"].isna().all():
        out.append("This run has no Linux control, so no stack's excess over it is computed.")
    for stack, rows in stacks.dropna(subset=["excess"]).groupby("stack", sort=False):
        if (rows["excess_low"] > 0).all():
            worse.append((stack, rows))
        elif (rows["excess_low"] <= 0).all() and (rows["excess_high"] >= 0).all():
            level.append(stack)
    for stack, rows in sorted(worse, key=lambda sr: -sr[1]["stack_fault_rate"].min()):
        low, high = rows["stack_fault_rate"].min(), rows["stack_fault_rate"].max()
        span = _pct(low) if low == high else f"{_pct(low)}–{_pct(high)}"
        kind = rows["dominant_kind"].mode().iloc[0]
        everywhere = "all its" if low >= 0.999 else f"{span} of its"
        where = "in the one condition run" if len(rows) == 1 else f"in all {len(rows)} conditions"
        out.append(
            f"{stack} {KIND_WORDS.get(kind, kind)} on {everywhere} connections, {where}: "
            f"{_pp(rows['excess_low'].min(), rows['excess_high'].max())} above the Linux control."
        )
    if level:
        tight = [
            st
            for st in level
            if (table.loc[table["stack"] == st, "excess_high"] <= CLEAN_POINTS).all()
        ]
        loose = [st for st in level if st not in tight]
        if tight:
            out.append(
                f"{', '.join(tight)} {_verb(tight, 'close')} as cleanly as the Linux control: "
                f"in every condition "
                f"the excess is at most {100 * CLEAN_POINTS:.0f} points (upper 95% bound)."
            )
        if loose:
            out.append(
                f"{', '.join(loose)} cannot be told apart from the Linux control with this many "
                f"connections: every excess interval includes zero, but reaches above "
                f"{100 * CLEAN_POINTS:.0f} points."
            )
    mixed = [
        s
        for s in dict.fromkeys(stacks.dropna(subset=["excess"])["stack"])
        if s not in level and s not in {w for w, _ in worse}
    ]
    if mixed:
        out.append(
            f"{', '.join(mixed)} {_verb(mixed, 'close')} worse than the control only in some "
            f"conditions "
            f"(see the table below)."
        )
    control = table[table["role"] == CONTROL]
    if not control.empty:
        faults, top = control["stack_fault_rate"].max(), control["loss_recovery_rate"].max()
        text = f"The Linux control's stack-fault rate is at most {_pct(faults)}"
        if top > 0:
            text += (
                f"; link loss made up to {_pct(top)} of its closes recover with "
                "retransmissions, shown apart as loss recovery, not as faults"
            )
        out.append(text + ".")
    duels = table.groupby("stack")["duels"].sum()
    if duels.any():
        named = ", ".join(f"{s} ({int(n)})" for s, n in duels.items() if n)
        out.append(f"Teardown duels (long back-and-forth closes): {named}.")
    return out[:limit]
