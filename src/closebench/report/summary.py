"""summary.md: the report's headline tables in markdown (written without the notebook, so it
exists even when a reader only greps the run directory)."""

from __future__ import annotations

import pandas as pd

from closebench.report.data import RunData
from closebench.report.stability import disagreements
from closebench.report.stats import cell_counts
from closebench.report.tables import fault_rate_display, run_facts, verdicts


def _md_escape(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_no data_\n"
    cols = list(frame.columns)
    lines = [
        "| " + " | ".join(_md_escape(c) or " " for c in cols) + " |",
        "|" + "---|" * len(cols),
    ]
    lines += [
        "| " + " | ".join(_md_escape(v) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join(lines) + "\n"


def summary_markdown(run: RunData) -> str:
    run_id = run.manifest.get("run_id") or run.run_dir.name
    parts = [f"# closebench summary: {run_id}\n"]
    if not run.complete:
        parts.append(
            "> **INCOMPLETE RUN**: manifest.json does not say `complete: true`; "
            "figures may be partial and this run must not be used as a baseline.\n"
        )
    parts += [
        "## Verdicts\n",
        markdown_table(verdicts(run)),
        "\n## Stack-fault rate (95% Wilson interval; loss recovery counted apart)\n",
        markdown_table(fault_rate_display(run)),
        "\n## Run\n",
        markdown_table(run_facts(run).rename(columns={"": "fact"})),
    ]
    unstable = disagreements(cell_counts(run))
    if unstable:
        parts += [
            "\n## Unstable: repetitions that disagree beyond their 95% intervals\n",
            "".join(f"- {d.text()}\n" for d in unstable),
        ]
    if run.problems:
        parts += ["\n## Missing or unreadable data\n", *[f"- {p}\n" for p in run.problems]]
    return "\n".join(parts)
