"""The first screen: stack faults per stack against the Linux control, in numbers and words.

A stack's excess is its stack-fault rate minus the Linux control's under the same load and
link profile, with Newcombe's hybrid-score 95 % interval for a difference of two independent
proportions (built from the two Wilson intervals; Newcombe 1998, method 10). The rows come
from stats.condition_counts, the fault table's own aggregation (one count, one fallback).

The sentences are generated from these rows only: a claim appears when its interval supports
it. In one condition a stack is worse when its excess interval lies wholly above zero, better
when wholly below, and cannot be told apart from the control when it contains zero. Over its
conditions a stack is worse, better or level everywhere, else mixed, and gets one sentence
that says which. No sentence is dropped: the report shows FIRST_SCREEN of them and folds the
rest, saying how many (sections.answer_sentences).
"""

from __future__ import annotations

import math

import pandas as pd

from closebench.report.data import RunData
from closebench.report.stats import condition_counts, fault_column
from closebench.teardown.rates import Rate

CONTROL = "control"  # the `role` of the Linux control's rows
CLEAN_POINTS = 0.02  # an excess whose upper bound stays below this reads "as cleanly"
# Sentences on the first screen; the answer folds the others below them and says how many.
FIRST_SCREEN = 6
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


def control_stacks(run: RunData) -> set[str]:
    """Stacks of the Linux control (kind "linux" in the run manifest)."""
    return {c.stack for c in run.cells if run.variant_info(c.variant).get("kind") == "linux"}


def excess_table(run: RunData, counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per stack x condition with connections: the fault and loss-recovery rates of
    stats.condition_counts (the fault table's own aggregation, its schema-1 fallback
    included: `counted` names the column counted) and the excess over the control.

    counts: other condition_counts rows to judge with this run's control (the timing band's
    end points, band_section.py); default this run's own."""
    counts = condition_counts(run) if counts is None else counts
    if counts.empty or not counts["connections"].any():
        return pd.DataFrame()
    counts = counts[counts["connections"] > 0]
    controls = control_stacks(run)
    control = {
        r.condition: Rate(int(r.faulty), int(r.connections))
        for r in counts.itertuples()
        if r.stack in controls
    }
    rows = []
    for r in counts.itertuples():
        faults = Rate(int(r.faulty), int(r.connections))
        base = control.get(r.condition)
        d, low, high = newcombe(faults, base) if base else (math.nan,) * 3
        rows.append(
            {
                "stack": r.stack,
                "role": CONTROL if r.stack in controls else "stack",
                "condition": r.condition,
                "connections": faults.n,
                "stack_faults": faults.k,
                "stack_fault_rate": faults.p,
                "loss_recovery_rate": r.loss_recovery / faults.n,
                "excess": d,
                "excess_low": low,
                "excess_high": high,
                "dominant_kind": r.dominant_kind,
                "duels": int(r.duels),
                "unstable": bool(r.unstable),
            }
        )
    return pd.DataFrame(rows).assign(counted=fault_column(run.connections))


def _verb(subjects: list[str], verb: str) -> str:
    return verb if len(subjects) > 1 else f"{verb}s"


def _pct(x: float) -> str:
    return f"{x:.0%}" if x >= 0.1 or x == 0 else f"{x:.1%}"


def _pp(low: float, high: float) -> str:
    return f"{100 * low:+.1f} to {100 * high:+.1f} points"


def span(rates: pd.Series) -> str:
    low, high = _pct(rates.min()), _pct(rates.max())
    return low if low == high else f"{low}–{high}"


def names(items: list[str], most: int = 3) -> str:
    """'a, b and c', or the first `most` and how many more."""
    if len(items) > most:
        return f"{', '.join(items[:most])} and {len(items) - most} more"
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _where(conditions: list[str], total: int) -> str:
    """'in all 4 conditions', 'in the one condition run', 'in 2 of 4 conditions (a and b)'."""
    if len(conditions) == total:
        return "in the one condition run" if total == 1 else f"in all {total} conditions"
    return f"in {len(conditions)} of {total} conditions ({names(conditions)})"


def row_verdict(low: float, high: float) -> str:
    """One condition's excess interval: "worse" wholly above 0, "better" wholly below 0,
    else "level" (it contains 0: the stack and the control cannot be told apart there)."""
    if low > 0:
        return "worse"
    if high < 0:
        return "better"
    return "level"


def stack_verdict(rows: pd.DataFrame) -> str:
    """worse / better / level in every compared condition, else "mixed"."""
    found = {
        row_verdict(lo, hi) for lo, hi in zip(rows["excess_low"], rows["excess_high"], strict=True)
    }
    return found.pop() if len(found) == 1 else "mixed"


def _noun(table: pd.DataFrame) -> str:
    """What the rates count: stack faults, or in a run of schema 1 every faulty close."""
    return "fault rate" if _old(table) else "stack-fault rate"


def _old(table: pd.DataFrame) -> bool:
    return "counted" in table and (table["counted"] == "faulty").any()


def _kind_words(kind: str | None, table: pd.DataFrame) -> str:
    if kind == "graceful" and _old(table):
        # faulty graceful closes of a schema-1 run include the ones link loss caused
        return "retransmits in graceful closes"
    return KIND_WORDS.get(str(kind), str(kind))


def _worse(stack: str, rows: pd.DataFrame, table: pd.DataFrame) -> str:
    low = rows["stack_fault_rate"].min()
    share = "all its" if low >= 0.999 else f"{span(rows['stack_fault_rate'])} of its"
    kind = rows["dominant_kind"].dropna().mode()
    words = _kind_words(kind.iloc[0] if not kind.empty else None, table)
    return (
        f"{stack} {words} on {share} connections, {_where(list(rows['condition']), len(rows))}: "
        f"{_pp(rows['excess_low'].min(), rows['excess_high'].max())} above the Linux control."
    )


def _better(stack: str, rows: pd.DataFrame, table: pd.DataFrame) -> str:
    control = table[(table["role"] == CONTROL) & table["condition"].isin(rows["condition"])]
    return (
        f"{stack} closes more cleanly than the Linux control "
        f"{_where(list(rows['condition']), len(rows))}: its {_noun(table)} is "
        f"{span(rows['stack_fault_rate'])}, the control's {span(control['stack_fault_rate'])} "
        f"(excess {_pp(rows['excess_low'].min(), rows['excess_high'].max())})."
    )


def _mixed(stack: str, rows: pd.DataFrame) -> str:
    verdicts = [
        row_verdict(lo, hi) for lo, hi in zip(rows["excess_low"], rows["excess_high"], strict=True)
    ]
    where = {
        v: [c for c, w in zip(rows["condition"], verdicts, strict=True) if w == v]
        for v in ("worse", "better", "level")
    }
    total, parts = len(rows), []
    if where["worse"]:
        parts.append(f"worse than the Linux control {_where(where['worse'], total)}")
    if where["better"]:
        parts.append(f"more cleanly than it {_where(where['better'], total)}")
    text = f"{stack} closes {' and '.join(parts)}"
    if where["level"]:
        text += f"; {_where(where['level'], total)} the two cannot be told apart"
    return text + " (see the table below)."


def _level(stacks: list[str], judged: pd.DataFrame) -> list[str]:
    tight = [
        s for s in stacks if (judged.loc[judged["stack"] == s, "excess_high"] <= CLEAN_POINTS).all()
    ]
    loose = [s for s in stacks if s not in tight]
    out = []
    if tight:
        out.append(
            f"{names(tight, len(tight))} {_verb(tight, 'close')} as cleanly as the Linux "
            f"control: in every condition the excess is at most {100 * CLEAN_POINTS:.0f} points "
            "(upper 95% bound)."
        )
    if loose:
        out.append(
            f"{names(loose, len(loose))} cannot be told apart from the Linux control with this "
            f"many connections: every excess interval includes zero, but reaches above "
            f"{100 * CLEAN_POINTS:.0f} points."
        )
    return out


def _uncompared(stacks: pd.DataFrame) -> list[str]:
    """Conditions where stacks ran but no control did: they have rows but no excess."""
    missing = stacks[stacks["excess"].isna()]
    if missing.empty:
        return []
    conditions = list(dict.fromkeys(missing["condition"]))
    named = list(dict.fromkeys(missing["stack"]))
    return [
        f"No Linux control ran under {names(conditions)}: "
        f"{names(named)} {'is' if len(named) == 1 else 'are'} not compared there "
        f"({'its' if len(named) == 1 else 'their'} rates are in the table below)."
    ]


def _control(table: pd.DataFrame) -> list[str]:
    control = table[table["role"] == CONTROL]
    if control.empty:
        return []
    faults, top = control["stack_fault_rate"].max(), control["loss_recovery_rate"].max()
    text = f"The Linux control's {_noun(table)} is at most {_pct(faults)}"
    if top > 0:
        text += (
            f"; link loss made up to {_pct(top)} of its closes recover with "
            "retransmissions, shown apart as loss recovery, not as faults"
        )
    return [text + "."]


def _duels(table: pd.DataFrame) -> list[str]:
    duels = table.groupby("stack", sort=False)["duels"].sum()
    if not duels.any():
        return []
    named = ", ".join(f"{s} ({int(n)})" for s, n in duels.items() if n)
    return [f"Teardown duels (long back-and-forth closes): {named}."]


def sentences(table: pd.DataFrame) -> list[str]:
    """Plain sentences, each backed by rows of `table` (excess_table): every stack other than
    the control is named in exactly one of worse / better / mixed / level, then conditions
    without a control, the control itself and duels. None is dropped; the report shows the
    first FIRST_SCREEN and folds the rest, saying so (sections.answer)."""
    if table.empty:
        return ["No connections were analysed, so there is nothing to say yet."]
    stacks = table[table["role"] != CONTROL]
    judged = stacks.dropna(subset=["excess"])
    out: list[str] = []
    if stacks.empty:
        out.append("Only the Linux control was measured: there is no stack to compare with it.")
    elif judged.empty:
        out.append("This run has no Linux control, so no stack's excess over it is computed.")
    verdicts = {stack: stack_verdict(rows) for stack, rows in judged.groupby("stack", sort=False)}
    worst_first = judged.groupby("stack", sort=False)["stack_fault_rate"].min()
    for stack in sorted(verdicts, key=lambda s: -worst_first[s]):
        if verdicts[stack] == "worse":
            out.append(_worse(stack, judged[judged["stack"] == stack], table))
    for stack, verdict in verdicts.items():
        rows = judged[judged["stack"] == stack]
        if verdict == "better":
            out.append(_better(stack, rows, table))
        elif verdict == "mixed":
            out.append(_mixed(stack, rows))
    out += _level([s for s, v in verdicts.items() if v == "level"], judged)
    if not judged.empty:
        out += _uncompared(stacks)
    return out + _control(table) + _duels(table)
