"""The report's figures (seaborn on matplotlib's Agg backend). Each returns a Figure or None
when there is nothing to draw; the notebook says so in words instead of drawing an empty axis.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # the report never opens windows; also safe under papermill

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from closebench.report.data import RunData
from closebench.report.pcap import Segment

# One colour per close_kind across every figure: green is good, reds are resets.
KIND_COLOURS = {
    "graceful": "#4c9a2a",
    "rst_device": "#c0392b",
    "rst_client": "#e67e73",
    "rst_after_fin": "#8e1b10",
    "half_closed": "#f39c12",
    "abandoned": "#95a5a6",
    "refused": "#6c3483",
    "syn_unanswered": "#2c3e50",
}
STATE_COLUMNS = (
    "syn_rcvd",
    "established",
    "fin_wait_1",
    "fin_wait_2",
    "close_wait",
    "closing",
    "last_ack",
    "time_wait",
)


def setup() -> None:
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight"})


def excess_forest(table: pd.DataFrame) -> Figure | None:
    """The headline: each stack's stack-fault rate above the Linux control, per condition,
    with the 95% interval of the difference (points; 0 = as clean as the control)."""
    rows = table[table["role"] != "control"].dropna(subset=["excess"])
    if rows.empty:
        return None
    stacks = list(dict.fromkeys(rows["stack"]))
    conds = sorted(set(rows["condition"]))
    palette = dict(zip(conds, sns.color_palette("colorblind", len(conds)), strict=False))
    fig, ax = plt.subplots(figsize=(9, max(2.0, 0.4 * len(stacks) + 0.9)))
    step = 0.7 / max(1, len(conds))
    for j, cond in enumerate(conds):
        part = rows[rows["condition"] == cond].set_index("stack")
        ys = [stacks.index(s) - 0.35 + step * (j + 0.5) for s in part.index]
        x = 100 * part["excess"]
        err = [
            100 * (part["excess"] - part["excess_low"]),
            100 * (part["excess_high"] - part["excess"]),
        ]
        ax.errorbar(x, ys, xerr=err, fmt="o", color=palette[cond], label=cond, capsize=3, ms=5)
    ax.axvline(0, color="#555", linewidth=1)
    ax.set_yticks(range(len(stacks)), stacks)
    ax.invert_yaxis()
    ax.set_xlabel("stack faults above the Linux control (percentage points, 95% interval)")
    ax.set_title("Which stacks close badly, and how sure we are", loc="left")
    ax.legend(title="load / link", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig


def fault_heatmap(table: pd.DataFrame) -> Figure | None:
    """Stack x condition, coloured by fault rate, annotated with the rate, CI and n."""
    if table.empty:
        return None
    stacks = list(dict.fromkeys(table["stack"]))
    conds = sorted(set(table["condition"]))
    rate = table.pivot(index="stack", columns="condition", values="rate").reindex(stacks)[conds]
    notes = pd.DataFrame("", index=stacks, columns=conds)
    for row in table.itertuples():
        if row.connections:
            text = f"{row.rate:.0%}\n[{row.ci_low:.0%}–{row.ci_high:.0%}]\nn={row.connections}"
        else:
            text = "failed" if row.status != "ok" else "no conns"
        notes.loc[row.stack, row.condition] = text
    fig, ax = plt.subplots(
        figsize=(max(6.0, 2.2 * len(conds) + 3), max(2.5, 0.75 * len(stacks) + 1.5))
    )
    sns.heatmap(
        rate.astype(float),
        annot=notes.values,
        fmt="",
        cmap="Reds",
        vmin=0,
        vmax=1,
        linewidths=1,
        linecolor="white",
        cbar_kws={"label": "stack-fault rate (share of connections)", "format": "%.0e"},
        annot_kws={"fontsize": 9},
        ax=ax,
    )
    # seaborn leaves NaN squares blank and unannotated; say why they are empty.
    for y, stack in enumerate(stacks):
        for x, cond in enumerate(conds):
            if pd.isna(rate.loc[stack, cond]):
                text = notes.loc[stack, cond] or "not run"
                ax.text(x + 0.5, y + 0.5, text, ha="center", va="center", color="#555")
    ax.grid(False)
    cbar = ax.collections[0].colorbar
    cbar.ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_facecolor("#eeeeee")  # cells without data show grey, distinct from 0%
    ax.set_xlabel("load profile / link profile")
    ax.set_ylabel("")
    ax.set_title("Stack faults (95% Wilson interval, n connections)")
    ax.tick_params(axis="x", rotation=0)
    return fig


def close_kind_bars(mix: pd.DataFrame) -> Figure | None:
    """100% stacked horizontal bars of close_kind per stack."""
    if mix.empty:
        return None
    share = mix.div(mix.sum(axis=1), axis=0)
    fig, ax = plt.subplots(figsize=(10, max(2.2, 0.6 * len(share) + 1.4)))
    left = np.zeros(len(share))
    for kind in share.columns:
        values = share[kind].to_numpy()
        ax.barh(
            share.index,
            values,
            left=left,
            color=KIND_COLOURS.get(kind, "#7f8c8d"),
            label=kind,
            edgecolor="white",
        )
        for y, (x0, v) in enumerate(zip(left, values, strict=True)):
            if v >= 0.06:
                ax.text(x0 + v / 2, y, f"{v:.0%}", ha="center", va="center", color="white")
        left += values
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel("share of connections")
    ax.set_title("How connections ended (close_kind)")
    ax.legend(ncols=4, bbox_to_anchor=(0.5, -0.25), loc="upper center", frameon=False)
    return fig


def teardown_ecdf(conns: pd.DataFrame, order: list[str]) -> Figure | None:
    if conns.empty or "teardown_ms" not in conns:
        return None
    data = conns[pd.to_numeric(conns["teardown_ms"], errors="coerce").notna()]
    if data.empty:
        return None
    fig, ax = plt.subplots(figsize=(10, 4.2))
    positive = data["teardown_ms"].clip(lower=0.01)  # log axis: a 0 ms teardown sits at 0.01
    sns.ecdfplot(
        data=data.assign(teardown_ms=positive),
        x="teardown_ms",
        hue="stack",
        hue_order=[s for s in order if s in set(data["stack"])],
        ax=ax,
    )
    ax.set_xscale("log")
    ax.set_xlabel("teardown duration: first FIN/RST to last packet (ms, log scale)")
    ax.set_ylabel("share of connections ≤ x")
    ax.set_title("Teardown duration (ECDF)")
    return fig


def teardown_packets(conns: pd.DataFrame, order: list[str]) -> Figure | None:
    if conns.empty or "teardown_pkts" not in conns:
        return None
    present = [s for s in order if s in set(conns["stack"])]
    fig, ax = plt.subplots(figsize=(10, max(2.5, 0.6 * len(present) + 1.5)))
    sns.boxplot(
        data=conns,
        x="teardown_pkts",
        y="stack",
        order=present,
        color="#d6e4f0",
        fliersize=0,
        ax=ax,
    )
    sns.stripplot(
        data=conns,
        x="teardown_pkts",
        y="stack",
        order=present,
        hue="close_kind" if "close_kind" in conns else None,
        palette=KIND_COLOURS if "close_kind" in conns else None,
        size=3.5,
        alpha=0.6,
        jitter=0.25,
        ax=ax,
    )
    ax.axvline(4, color="#4c9a2a", linestyle="--", linewidth=1)
    ax.text(4, -0.6, " clean close: 4", color="#4c9a2a", va="bottom", fontsize=8)
    ax.set_xlabel("packets after the first FIN/RST (per connection)")
    ax.set_ylabel("")
    ax.set_title("Teardown packets per connection")
    if ax.get_legend():
        ax.legend(title="close_kind", bbox_to_anchor=(1.01, 1), loc="upper left", frameon=False)
    return fig


def after_load(table: pd.DataFrame) -> Figure | None:
    """Per cell: how long packets continue after load_stop (capture tail vs connections)."""
    data = table.dropna(subset=["capture_tail_s", "longest_conn_after_s"], how="all").copy()
    # A capture that ended before load_stop (negative tail) had no after-load traffic: 0.
    data["capture_tail_s"] = data["capture_tail_s"].clip(lower=0)
    if data.empty:
        return None
    long = data.melt(
        id_vars=["stack", "cell"],
        value_vars=["capture_tail_s", "longest_conn_after_s"],
        var_name="measure",
        value_name="seconds",
    ).dropna()
    long["measure"] = long["measure"].map(
        {
            "capture_tail_s": "capture's last packet",
            "longest_conn_after_s": "longest connection (after_load_ms)",
        }
    )
    fig, ax = plt.subplots(figsize=(10, max(2.5, 0.35 * len(data) + 1.5)))
    sns.barplot(data=long, x="seconds", y="cell", hue="measure", ax=ax, palette="muted")
    ax.set_xlabel("seconds after the load stopped")
    ax.set_ylabel("")
    ax.set_title("After-load activity per cell")
    ax.legend(title="", loc="lower right")
    return fig


def flow_diagram(
    segments: list[Segment], title: str, *, head: int = 12, tail: int = 44
) -> Figure | None:
    """A Wireshark-style flow graph: client left, device right, time downwards."""
    if not segments:
        return None
    t0 = segments[0].ts
    shown: list[Segment | None] = list(segments)
    omitted = 0
    if len(segments) > head + tail:
        # The handshake and the teardown tell the story; the middle is usually data.
        omitted = len(segments) - head - tail
        shown = [*segments[:head], None, *segments[-tail:]]
    height = 0.32 * len(shown) + 1.4
    fig, ax = plt.subplots(figsize=(10, height))
    xc, xd = 0.18, 0.82
    ax.set_xlim(0, 1)
    ax.set_ylim(len(shown) + 0.2, -1.3)
    ax.axis("off")
    for x, name in ((xc, "client (Linux host)"), (xd, "device (stack under test)")):
        ax.plot([x, x], [-0.2, len(shown)], color="#555", linewidth=1.2)
        ax.text(x, -0.5, name, ha="center", va="bottom", fontweight="bold")
    for i, seg in enumerate(shown):
        y = i + 0.3
        if seg is None:
            ax.text(0.5, y, f"… {omitted} packets not shown …", ha="center", color="#777")
            continue
        start, end = (xc, xd) if seg.from_client else (xd, xc)
        colour = "#c0392b" if "RST" in seg.flags else "#d35400" if "FIN" in seg.flags else "#2c3e50"
        ax.annotate(
            "",
            xy=(end, y),
            xytext=(start, y),
            arrowprops={"arrowstyle": "-|>", "color": colour, "linewidth": 1.1},
        )
        label = f"[{seg.flags}] seq={seg.seq} ack={seg.ack}" + (
            f" len={seg.length}" if seg.length else ""
        )
        ax.text(0.5, y - 0.08, label, ha="center", va="bottom", fontsize=7.5, color=colour)
        ax.text(
            0.01,
            y,
            f"{(seg.ts - t0) * 1000:9.1f} ms",
            va="center",
            fontsize=7.5,
            family="monospace",
            color="#555",
        )
    ax.set_title(title, loc="left", fontsize=10)
    return fig


def device_timeline(run: RunData, cell_ids: list[str]) -> Figure | None:
    """Small multiples: PCBs by TCP state, with alloc failures, load window shaded."""
    dev = run.device
    if dev.empty or not cell_ids:
        return None
    cell_ids = [c for c in cell_ids if c in set(dev["cell_id"])]
    if not cell_ids:
        return None
    cols = min(3, len(cell_ids))
    rows = math.ceil(len(cell_ids) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(5.2 * cols, 3.3 * rows), squeeze=False, sharey=False
    )
    palette = dict(zip(STATE_COLUMNS, sns.color_palette("tab10", len(STATE_COLUMNS)), strict=True))
    for ax, cid in zip(axes.flat, cell_ids, strict=False):
        cell = run.cell(cid)
        sub = dev[dev["cell_id"] == cid].sort_values("epoch_s")
        origin = cell.event("load_start", "wall") or float(sub["epoch_s"].iloc[0])
        t = sub["epoch_s"] - origin
        for col in STATE_COLUMNS:
            if col in sub and pd.to_numeric(sub[col], errors="coerce").fillna(0).any():
                ax.step(t, sub[col], where="post", label=col, color=palette[col], linewidth=1.3)
        start, stop = cell.event("load_start", "wall"), cell.event("load_stop", "wall")
        if start is not None and stop is not None:
            ax.axvspan(0, stop - origin, color="#f5cba7", alpha=0.35, label="load running")
        if "alloc_fail" in sub and pd.to_numeric(sub["alloc_fail"], errors="coerce").max() > 0:
            twin = ax.twinx()
            twin.step(
                t,
                sub["alloc_fail"],
                where="post",
                color="black",
                linestyle=":",
                label="alloc_fail (right)",
            )
            twin.set_ylabel("allocation failures", fontsize=8)
            twin.grid(False)
        ax.set_title(f"{cell.stack}\n{cell.condition} r{cell.repetition}", fontsize=9)
        ax.set_xlabel("s since load start")
        ax.set_ylabel("PCBs")
    for ax in list(axes.flat)[len(cell_ids) :]:
        ax.axis("off")
    handles: dict[str, object] = {}
    for ax in fig.axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    fig.legend(
        handles.values(),
        handles.keys(),
        loc="upper center",
        ncols=6,
        bbox_to_anchor=(0.5, 1.0 + 0.12 / rows),
        frameon=False,
    )
    fig.tight_layout()
    return fig


def free_heap(run: RunData, cell_ids: list[str]) -> Figure | None:
    """Free heap over time, one line per stack and condition (its first cell), the first
    failed allocation marked: device.csv's heap_free (empty without a [heap] budget; a real
    board's poller fills it too) and alloc_fail."""
    dev = run.device
    if dev.empty or "heap_free" not in dev or not cell_ids:
        return None
    fig, ax = plt.subplots(figsize=(9.5, 3.6))
    drawn = 0
    for cid in cell_ids:
        sub = dev[dev["cell_id"] == cid].sort_values("epoch_s")
        free = pd.to_numeric(sub["heap_free"], errors="coerce")
        if sub.empty or free.isna().all():
            continue
        cell = run.cell(cid)
        origin = cell.event("load_start", "wall") or float(sub["epoch_s"].iloc[0])
        t = sub["epoch_s"] - origin
        label = f"{cell.stack} {cell.condition}"
        line = ax.step(t, free / 1024, where="post", linewidth=1.3, label=label)[0]
        fails = pd.to_numeric(sub.get("alloc_fail"), errors="coerce").fillna(0)
        first = fails.gt(0).idxmax() if fails.gt(0).any() else None
        if first is not None:
            ax.axvline(t.loc[first], color=line.get_color(), linestyle=":", linewidth=1.2)
            ax.plot(t.loc[first], free.loc[first] / 1024, "x", color=line.get_color(), ms=9)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("s since load start")
    ax.set_ylabel("free heap, KiB")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    ax.set_title("Free heap on the emulated chip", loc="left", fontsize=10)
    fig.tight_layout()
    return fig


def latency_ecdf(requests: pd.DataFrame, order: list[str]) -> Figure | None:
    col = next((c for c in requests.columns if "latency" in c), None) if len(requests) else None
    if col is None:
        return None
    data = requests[pd.to_numeric(requests[col], errors="coerce") > 0]
    if data.empty:
        return None
    fig, ax = plt.subplots(figsize=(10, 4))
    sns.ecdfplot(
        data=data,
        x=col,
        hue="stack",
        hue_order=[s for s in order if s in set(data["stack"])],
        ax=ax,
    )
    values = pd.to_numeric(data[col])
    log = values.max() / values.min() > 20  # log only pays off over a wide range
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("request latency (ms" + (", log scale)" if log else ")"))
    ax.set_ylabel("share of requests ≤ x")
    ax.set_title("Request latency (ECDF, all requests with a latency)")
    return fig
