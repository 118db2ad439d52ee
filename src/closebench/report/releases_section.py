"""Fault rates over release dates: drawn only when the run has releases (`compare --releases`).

Each release is one stack (`<variant>~<label>`) built from its own commit; the run manifest
carries its date, commit and the line on what changed in networking (releases.toml).
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from closebench.report import display as show
from closebench.report.data import RunData
from closebench.report.sections import guarded
from closebench.report.stats import fault_table, fmt_rate


def release_rows(run: RunData) -> pd.DataFrame:
    """One row per release x condition: date, label, commit, rate and its Wilson interval."""
    table = fault_table(run)
    if table.empty:
        return pd.DataFrame()
    rows = []
    for rec in table.to_dict("records"):
        variant = next((c.variant for c in run.cells if c.stack == rec["stack"]), rec["stack"])
        release = run.variant_info(variant).get("release")
        if not isinstance(release, dict) or not release.get("date"):
            continue
        rows.append(
            {
                "line": variant.split("~", 1)[0],
                "release": release.get("label", variant),
                "date": pd.Timestamp(release["date"]),
                "commit": str(release.get("commit", ""))[:7],
                "tag": release.get("tag") or "",
                "networking": release.get("networking", ""),
                "condition": rec["condition"],
                "connections": rec["connections"],
                "stack_faults": rec["faulty"],
                "rate": rec["rate"],
                "ci_low": rec["ci_low"],
                "ci_high": rec["ci_high"],
            }
        )
    frame = pd.DataFrame(rows)
    return (
        frame.sort_values(["line", "date", "condition"]).reset_index(drop=True) if rows else frame
    )


def rates_over_dates(rows: pd.DataFrame) -> Figure | None:
    """Stack-fault rate (95 % Wilson interval) at each release date, one line per condition."""
    if rows.empty or rows["rate"].isna().all():
        return None
    conds = sorted(set(rows["condition"]))
    palette = dict(zip(conds, sns.color_palette("colorblind", len(conds)), strict=False))
    fig, ax = plt.subplots(figsize=(10, 4.2))
    for cond, part in rows.groupby("condition", sort=True):
        part = part.sort_values("date")
        y = 100 * part["rate"]
        err = [
            (100 * (part["rate"] - part["ci_low"])).clip(lower=0),
            (100 * (part["ci_high"] - part["rate"])).clip(lower=0),
        ]
        ax.errorbar(
            part["date"], y, yerr=err, marker="o", capsize=3, label=cond, color=palette[cond]
        )
    firsts = rows.drop_duplicates("release")
    top = max(5.0, float(100 * rows["ci_high"].max()) if rows["ci_high"].notna().any() else 5.0)
    for i, rec in enumerate(firsts.itertuples()):
        ax.axvline(rec.date, color="#bbb", lw=0.8, zorder=0)
        ax.annotate(  # above the axes, staggered: releases weeks apart would overlap
            rec.release,
            (mdates.date2num(rec.date), 1.01 if i % 2 == 0 else 1.08),
            xycoords=ax.get_xaxis_transform(),
            rotation=30,
            fontsize=8,
            ha="left",
            va="bottom",
            annotation_clip=False,
        )
    ax.set_ylim(0, top * 1.15)
    ax.set_title("Stack-fault rate over release dates", loc="left", pad=42)
    ax.set_ylabel("stack-fault rate, % of connections")
    ax.set_xlabel("release (commit) date")
    ax.legend(title="load / link", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    fig.tight_layout()
    return fig


@guarded
def render(run: RunData) -> None:
    rows = release_rows(run)
    if rows.empty:
        return
    show.display(show.HTML('<a id="releases"></a><h2>Fault rates over releases</h2>'))
    lines = ", ".join(sorted(set(rows["line"])))
    show.note(
        f"Each release of {lines} is its own stack, built from the firmware's source at the "
        "release's commit with the variant's app, options and timing; repetitions pooled, "
        "95% Wilson intervals. Dates are commit dates."
    )
    show.fig(rates_over_dates(rows), "No connections at any release.")
    table = rows.assign(
        **{
            "stack-fault rate [95% CI]": [
                fmt_rate(r, lo, hi) if not math.isnan(r) else "no data"
                for r, lo, hi in zip(rows["rate"], rows["ci_low"], rows["ci_high"], strict=True)
            ],
            "date": rows["date"].dt.strftime("%Y-%m-%d"),
        }
    )[
        [
            "release",
            "date",
            "commit",
            "tag",
            "condition",
            "connections",
            "stack-fault rate [95% CI]",
            "networking",
        ]
    ]
    show.table(table, "What changed in networking is from the variant's releases.toml.")
