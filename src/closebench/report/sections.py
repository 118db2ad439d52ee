"""One function per report section; the notebook calls them in order under its headings.

Each section is wrapped so that an unexpected error in one shows a warning in that section
and the rest of the report still renders (a partial report beats none), while the executed
notebook keeps the traceback text for whoever debugs it.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from closebench.report import band_section, figures, headline, stability, tables
from closebench.report import display as show
from closebench.report.data import RunData, load_run
from closebench.report.pcap import connection_segments, write_excerpt
from closebench.report.stats import cell_counts, close_kind_mix, fault_column, fault_table


def guarded(func: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            func(*args, **kwargs)
        except Exception as exc:  # keep the rest of the report; say what broke
            show.warn(f"This section could not be drawn ({type(exc).__name__}: {exc}).")
            print(traceback.format_exc(), file=__import__("sys").stderr)

    return wrapper


def start(run_dir: str, allow_incomplete: bool) -> RunData:
    figures.setup()
    show.style()
    run = load_run(run_dir)
    run_id = run.manifest.get("run_id") or run.run_dir.name
    show.display(show.HTML(f"<h1>closebench report: {show.html.escape(str(run_id))}</h1>"))
    if not run.complete:
        show.banner(
            "INCOMPLETE RUN: manifest.json does not say complete: true. Figures may be partial; "
            "do not use this run as a baseline."
        )
    show.note(
        "How IoT firmware TCP stacks close connections under HTTP load. Every figure is "
        f"re-derived from the cell folders of {run.run_dir}; rebuild with "
        f"`closebench report {run.run_dir}`."
    )
    for problem in run.problems:
        show.warn(problem)
    return run


def folded(summary: str, section: Callable[[RunData], None], run: RunData) -> None:
    """A long section inside one collapsible block (the reader opens it when needed)."""
    with show.folded(summary):
        section(run)


@guarded
def answer(run: RunData) -> None:
    """The first screen: the headline figure, sentences from the data, what each stack ran."""
    table = headline.excess_table(run)
    if table.empty:
        show.note("No connections were analysed, so there is nothing to compare yet.")
        return
    answer_sentences(headline.sentences(table))
    band_section.timing_band(run)
    if fault_column(run.connections) == "faulty":
        show.note(
            "This run predates the stack-fault column: its rates count every faulty close, "
            "link-loss recoveries included. Re-derive it with `closebench report RUN "
            "--reanalyse` to tell them apart."
        )
    repetition_warning(run)
    show.fig(figures.excess_forest(table), "Only the control was measured: nothing to compare.")
    lines = []
    for variant in dict.fromkeys(c.variant for c in run.cells):
        info = run.variant_info(variant)
        diffs = len(info.get("known_differences") or [])
        runs_on = tables.runs_on(info, sorted({c.lwip for c in run.cells if c.variant == variant}))
        lines.append(f"{variant}: {runs_on}; {diffs} known difference(s) from the board")
    show.bullets(lines)
    with show.folded("Stack faults, loss recovery and excess per stack and condition"):
        show.table(
            table.assign(
                stack_fault_rate=table["stack_fault_rate"].map("{:.1%}".format),
                loss_recovery_rate=table["loss_recovery_rate"].map("{:.1%}".format),
                excess=[
                    "control"
                    if r == headline.CONTROL
                    else f"{100 * d:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"
                    for r, d, lo, hi in zip(
                        table["role"],
                        table["excess"],
                        table["excess_low"],
                        table["excess_high"],
                        strict=True,
                    )
                ],
                unstable=table["unstable"].map({True: "repetitions disagree", False: ""}),
            ).drop(columns=["excess_low", "excess_high", "counted"]),
            "Stack faults: RST instead of or after FIN, half-closed, abandoned, refused, SYN "
            "unanswered, and graceful closes with retransmissions the link did not cause. Loss "
            "recovery: graceful closes whose retransmissions follow packets the link lost. "
            "Excess: percentage points above the Linux control, Newcombe 95% interval.",
        )


def answer_sentences(said: list[str]) -> None:
    """The first FIRST_SCREEN sentences as a list; the rest folded under it, counted aloud."""
    shown, rest = said[: headline.FIRST_SCREEN], said[headline.FIRST_SCREEN :]
    items = "".join(f"<li>{show.html.escape(t)}</li>" for t in shown)
    if rest:
        items += (
            f'<li style="font-style:italic">The first screen shows {len(shown)} of {len(said)} '
            f"sentences; {'the other one is' if len(rest) == 1 else f'the other {len(rest)} are'} "
            "folded just below.</li>"
        )
    show.display(show.HTML(f'<ul class="cb-answer">{items}</ul>'))
    if rest:
        with show.folded(f"{len(rest)} more sentence{'s' if len(rest) > 1 else ''}"):
            show.bullets(rest)


def repetition_warning(run: RunData) -> None:
    """Conditions whose repetitions disagree beyond their intervals, naming the cells."""
    found = stability.disagreements(cell_counts(run))
    if not found:
        return
    head = (
        f"Unstable: in {len(found)} condition{'s' if len(found) > 1 else ''} the repetitions "
        "disagree beyond their 95% Wilson intervals, so the pooled rate and interval there "
        "understate the spread between runs (docs/repetitions.md; every repetition in section 2):"
    )
    items = "".join(f"<li>{show.html.escape(d.text())}</li>" for d in found)
    show.display(
        show.HTML(f'<div class="cb-warn">⚠ {show.html.escape(head)}<ul>{items}</ul></div>')
    )


@guarded
def verdicts(run: RunData) -> None:
    show.table(
        tables.verdicts(run),
        "Derived only from the connection table: 'faulty' (anything but a clean graceful "
        "close) as results/README.md defines it; intervals are 95% Wilson.",
    )


@guarded
def what_was_run(run: RunData) -> None:
    show.table(tables.run_facts(run))
    show.display(show.HTML("<h3>Variants</h3>"))
    show.table(tables.variants_table(run))
    models = tables.timing_models(run)
    if models:
        show.display(show.HTML("<h3>The chip's speed: each variant's timing model</h3>"))
        for variant, lines in models.items():
            show.display(show.HTML(f"<b>{show.html.escape(variant)}</b>"))
            show.bullets(lines, "")
    show.display(
        show.HTML(
            "<h3>Known differences from the real firmware (exact source or approximation)</h3>"
        )
    )
    for variant, diffs in tables.known_differences(run).items():
        show.display(show.HTML(f"<b>{show.html.escape(variant)}</b>"))
        show.bullets(diffs, "No known differences recorded in the manifest.")
    show.display(show.HTML("<h3>Cells</h3>"))
    frame = tables.cells_table(run)
    classes = pd.DataFrame("", index=frame.index, columns=frame.columns)
    classes.loc[frame["status"] != "ok", "status"] = "bad"
    classes.loc[(frame["status"] == "ok") & (frame["connections"] == 0), "connections"] = "bad"
    show.table(
        frame,
        "A failed or skipped cell is shown here and left out of every figure.",
        classes=classes,
    )


@guarded
def fault_rates(run: RunData) -> None:
    show.table(
        tables.fault_rate_display(run),
        "Repetitions pooled per stack and condition; the interval is over all their connections. "
        "Loss recovery: graceful closes that retransmitted after the link lost a packet.",
    )
    show.fig(figures.fault_heatmap(fault_table(run)), "No cells to compare.")
    found = stability.disagreements(cell_counts(run))
    if found:
        show.display(show.HTML("<h3>Repetitions that disagree</h3>"))
        show.table(
            stability.repetition_table(found),
            "Conditions whose repetitions' 95% Wilson intervals on the fault rate do not all "
            "overlap (docs/repetitions.md): their pooled interval above is too narrow.",
        )
    side = tables.lwip_side_by_side(run)
    if not side.empty:
        show.display(show.HTML("<h3>lwIP releases side by side</h3>"))
        show.table(
            side, "Stack-fault rate [95% CI] per lwIP release of the same variant.", index=True
        )


@guarded
def close_kinds(run: RunData) -> None:
    mix = close_kind_mix(run)
    show.fig(figures.close_kind_bars(mix), "No connections were captured.")
    if not mix.empty:
        show.table(mix, "Connections per close_kind (counts).", index=True)


@guarded
def teardown(run: RunData) -> None:
    show.fig(figures.teardown_ecdf(run.connections, run.stacks), "No connection had a teardown.")
    show.fig(figures.teardown_packets(run.connections, run.stacks), "No connections.")


@guarded
def after_load(run: RunData) -> None:
    frame = tables.after_load_table(run)
    show.fig(figures.after_load(frame), "No cell has both a load_stop event and packets.")
    if not frame.empty:
        shown = frame.drop(columns=["stack", "load_stop"]).rename(
            columns={
                "capture_tail_s": "capture's last packet after load stop (s)",
                "longest_conn_after_s": "longest connection after load stop (s)",
                "conns_active_after_stop": "connections active after stop",
            }
        )
        shown = shown.round(2).astype(object).where(shown.notna(), "–")
        show.table(
            shown,
            "Negative: the capture's last packet came before the load stopped. Positive: "
            "packets kept flowing after it.",
        )


FLOWS_DIR = "flows"  # each drawn connection's own small pcaps, beside report.html
VIEWS = (("client", "capture-client.pcap", 0.0005), ("device", "capture-device.pcap", 2.0))


def flow_pcaps(run: RunData, row: Any) -> list[tuple[str, Path, Path]]:
    """(view, full capture, excerpt path) for both vantage points of one drawn connection."""
    cell = run.cell(row.cell_id)
    stem = f"{cell.id}-conn{row.conn_id}"
    return [
        (view, cell.dir / name, run.run_dir / FLOWS_DIR / f"{stem}-{view}.pcap")
        for view, name, _slack in VIEWS
    ]


def _draw_view(run: RunData, row: Any, view: str, full: Path, excerpt: Path, slack: float) -> None:
    """One vantage point: cut the excerpt from the full capture (when present), draw from it."""
    where = {
        "client": (row.client_ip, int(row.client_port)),
        "device": (row.device_ip, int(row.device_port)),
    }
    span = {"start": float(row.first_ts), "end": float(row.last_ts)}
    if full.is_file():
        write_excerpt(full, excerpt, **where, **span, slack_s=slack)
    if not excerpt.is_file():
        show.note(f"{view} view: no {full.name} (and no excerpt) to draw from.")
        return
    segs = connection_segments(excerpt, **where, **span, slack_s=slack)
    side = "host side" if view == "client" else "device itself"
    title = f"{row.stack}: seen from the {view} ({side})"
    show.fig(figures.flow_diagram(segs, title), f"{view} view: no packets of this connection.")
    rel = excerpt.relative_to(run.run_dir)
    show.display(
        show.HTML(
            f'<p class="cb-caption">this connection alone, for Wireshark: '
            f'<a href="{show.html.escape(str(rel))}">{show.html.escape(str(rel))}</a></p>'
        )
    )


@guarded
def worst_flows(run: RunData) -> None:
    worst = tables.worst_connections(run)
    if worst.empty:
        show.note("No connections to draw.")
        return
    for row in worst.itertuples():
        cell = run.cell(row.cell_id)
        show.display(show.HTML(f"<h3>{show.html.escape(str(row.stack))}</h3>"))
        show.display(
            show.HTML(
                f'<p class="cb-caption">{show.html.escape(cell.condition)} '
                f"r{cell.repetition} · conn {row.conn_id}: "
                f"{show.html.escape(str(row.close_kind))}, "
                f"{row.teardown_pkts} teardown packets, state {show.html.escape(str(row.state))} · "
                f"picked as {show.html.escape(str(row.why))} · history "
                f"{show.html.escape(str(row.history))}</p>"
            )
        )
        for (view, full, excerpt), (_v, _n, slack) in zip(flow_pcaps(run, row), VIEWS, strict=True):
            _draw_view(run, row, view, full, excerpt, slack)


@guarded
def device_resources(run: RunData) -> None:
    if run.device.empty:
        show.note("No device.csv in any cell (the hardware backend may not report resources).")
    else:
        # One repetition per stack and condition keeps the grid readable; the peak table
        # below covers every cell.
        firsts: dict[tuple[str, str], str] = {}
        present = set(run.device["cell_id"])
        for cell in run.cells:
            if cell.id in present:
                firsts.setdefault((cell.stack, cell.condition), cell.id)
        show.fig(figures.device_timeline(run, list(firsts.values())))
        show.note("Shaded: load running. Dotted black (right axis): allocation failures so far.")
        heap_fig = figures.free_heap(run, list(firsts.values()))
        if heap_fig is not None:
            show.fig(heap_fig)
            show.note(
                "Free heap of each stack's first cell, from its [heap] budget (free heap at app "
                "start, cited in variant.toml); x and dotted line: the first allocation failure."
            )
    show.table(tables.device_peaks(run), "From each cell's metrics.json 'device'.")


@guarded
def load(run: RunData) -> None:
    show.table(
        tables.load_table(run),
        "From each cell's metrics.json 'load'.",
        empty="No cell has load metrics.",
    )
    show.display(show.HTML("<h3>Failures by kind</h3>"))
    show.table(
        tables.failures_table(run),
        "Failed requests per kind, pooled over cells.",
        empty="No failed requests recorded.",
        index=True,
    )
    show.fig(figures.latency_ecdf(run.requests, run.stacks), "No requests.csv with latencies.")


@guarded
def capture(run: RunData) -> None:
    frame = tables.capture_table(run)
    bad = frame[(frame["complete"] == "NO")] if not frame.empty else frame
    for row in bad.itertuples():
        show.warn(
            f"{row.cell}: the capture was incomplete (packets dropped); "
            "its connection counts and fault rates may be wrong."
        )
    classes = pd.DataFrame("", index=frame.index, columns=frame.columns)
    if not frame.empty:
        classes.loc[frame["complete"] == "NO", "complete"] = "bad"
        classes.loc[frame["complete"] == "yes", "complete"] = "good"
    show.table(
        frame,
        "Drops reported by tcpdump (kernel, interface) and by the link process.",
        classes=classes,
    )


@guarded
def fingerprint(run: RunData) -> None:
    if not run.probes:
        show.note("No probes/<variant>.json in this run (the probe step was not run).")
        return
    measured, passed = tables.fingerprint(run)
    classes = passed.reindex(index=measured.index, columns=measured.columns).map(
        lambda v: "bad" if v is False else "good" if v is True else ""
    )
    show.table(
        measured,
        "Measured behaviour per variant; red: differs from what the "
        "firmware's documentation or source says it should do.",
        classes=classes,
        index=True,
    )
    citations = sorted(
        {
            f"{r.get('behaviour')}: {r.get('citation')}"
            for d in run.probes.values()
            for r in d.get("results") or []
            if r.get("citation")
        }
    )
    if citations:
        show.display(show.HTML("<b>Where the expectations come from</b>"))
        show.bullets(citations)
