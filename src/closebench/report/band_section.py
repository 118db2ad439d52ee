"""The answer screen across the chip's timing band (issue 25): each stack's headline figure and
verdict at the model and at the interval's ends.

`compare` (and `run --timing-band`) measure the same cells again at the ends of the chip
model's interval and write RUN/timing-band.json naming those runs (pipeline/band.py). Here
every end is judged with the headline's own rules (headline.py): the end's stack rows, the
model run's Linux control (the host's kernel has no chip model, so it is the same at every
point), Newcombe's interval of the excess, row_verdict per condition and stack_verdict over
them. A stack whose verdict, or the verdict of any of its conditions, differs between two
points is **timing-sensitive**, shown with its value at each point. An end the chip runs at
exactly as at the model was not run again and reads "= model". The per-cell verdicts that
band.sensitive found (top close kind, faulty rates whose intervals part, duels) are folded
below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from closebench.pipeline.band import BAND_FILE, POINTS
from closebench.report import display as show
from closebench.report import headline
from closebench.report.data import RunData, load_run
from closebench.report.stats import condition_counts
from closebench.variants.timing import HOST_LABEL, MODEL_SPEEDS

NOT_MEASURED = "timing band not measured (run compare without --quick, or --timing-band)"
IN_SEED_STUDY = (
    "timing band: the seed study runs the band's ends as hypotheses of their own; each verdict "
    "across the band is in 'The 2016 test' below"
)
INTERRUPTED = "timing band interrupted before it finished: not measured (run compare again)"
END_WORDS = {"model": "the model", "model-slow": "the slow end", "model-fast": "the fast end"}
ENDS = ("model-slow", "model-fast")  # in the order the answer names them
VERDICT_WORDS = {
    "worse": "worse than the Linux control",
    "better": "cleaner than the Linux control",
    "level": "level with the Linux control",
    "mixed": "mixed against the Linux control",
    "uncompared": "not compared (no Linux control)",
}


@dataclass
class StackBand:
    """One stack's headline figure and verdicts at each point of the band."""

    stack: str
    figure: dict[str, str] = field(default_factory=dict)  # point -> stack-fault rate(s)
    verdict: dict[str, str] = field(default_factory=dict)  # point -> stack verdict
    conditions: dict[str, dict[str, str]] = field(default_factory=dict)  # point -> cond -> v
    condition_rate: dict[str, dict[str, str]] = field(default_factory=dict)  # point -> cond -> %
    same_as_model: list[str] = field(default_factory=list)  # ends not run again
    duels: dict[str, int] = field(default_factory=dict)  # point -> teardown duels
    speed_ms: dict[str, float] = field(default_factory=dict)  # point -> ms per connection

    def moves(self) -> list[str]:
        """What differs inside the band: the stack's verdict, then each condition's."""
        found = []
        if len(set(self.verdict.values())) > 1:
            found.append(
                "verdict " + self._at({p: VERDICT_WORDS[v] for p, v in self.verdict.items()})
            )
        conds = dict.fromkeys(c for per in self.conditions.values() for c in per)
        for cond in conds if len(conds) > 1 else ():  # one condition: its verdict is the stack's
            seen = {p: per.get(cond, "no result") for p, per in self.conditions.items()}
            if len(set(seen.values())) > 1:
                rates = {p: per.get(cond, "-") for p, per in self.condition_rate.items()}
                found.append(f"{cond}: {self._at(seen, rates)}")
        if len({n > 0 for n in self.duels.values()}) > 1:  # band.sensitive's duel rule
            found.append(
                "duels " + ", ".join(f"{n} at {END_WORDS[p]}" for p, n in self.duels.items())
            )
        return found

    def _at(self, words: dict[str, str], figures: dict[str, str] | None = None) -> str:
        """'worse at the model (47%), level at the slow end (2.2%)'."""
        figures = figures or self.figure
        return ", ".join(f"{w} at {END_WORDS[p]} ({figures[p]})" for p, w in words.items())

    def text(self) -> str:
        """'nodemcu-2016: 49% (slow end 52%, fast end = model); worse ... at every point'."""
        ends = [
            f"{END_WORDS[p][4:]} {self.figure[p]}"
            if p in self.figure
            else f"{END_WORDS[p][4:]} = model"
            for p in ENDS
            if p in self.figure or p in self.same_as_model
        ]
        head = f"{self.stack}: {self.figure.get('model', '-')} ({', '.join(ends)})"
        if not self.moves():
            head += f"; {VERDICT_WORDS[self.verdict.get('model', 'uncompared')]} at every point"
        if any(self.duels.values()):
            head += "; duels " + self._ends({p: str(n) for p, n in self.duels.items()})
        if self.speed_ms:
            head += "; " + self._ends({p: f"{ms:.1f} ms" for p, ms in self.speed_ms.items()})
            head += " per short connection"
        return head

    def _ends(self, values: dict[str, str]) -> str:
        """'9 (slow end 4)': the model's value, then each end's that was run."""
        ends = [f"{END_WORDS[p][4:]} {values[p]}" for p in ENDS if p in values]
        return values.get("model", "-") + (f" ({', '.join(ends)})" if ends else "")


def read_band(run: RunData) -> dict | None:
    """RUN/timing-band.json, or None where the band was not measured (or is unreadable)."""
    path = run.run_dir / BAND_FILE
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None


def at_host_speed(run: RunData) -> list[str]:
    """The run's lwIP variants that answered at host speed (no chip model)."""
    return [
        name
        for name, info in (run.manifest.get("variants") or {}).items()
        if isinstance(info, dict)
        and info.get("kind") == "lwip"
        and info.get("device_speed") not in MODEL_SPEEDS
    ]


def point_tables(run: RunData, doc: dict) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The headline's excess table at every point the band ran, and the runs not found."""
    tables = {"model": headline.excess_table(run)}
    model_counts = condition_counts(run)
    missing = []
    for point, rel in (doc.get("runs") or {}).items():
        if point == "model":
            continue
        end_dir = run.run_dir / rel
        if not (end_dir / "manifest.json").is_file():
            missing.append(f"{END_WORDS.get(point, point)}: {rel}")
            continue
        end = load_run(end_dir)
        moved = {c.stack for c in end.cells}
        counts = pd.concat(
            [model_counts[~model_counts["stack"].isin(moved)], condition_counts(end)],
            ignore_index=True,
        )
        tables[point] = headline.excess_table(run, counts)
    return tables, missing


def point_speeds(run: RunData, doc: dict) -> dict[str, dict[str, float]]:
    """Stack -> point -> the chip model's time per short connection there, in ms."""
    runs = {"model": run.manifest}
    for point, rel in (doc.get("runs") or {}).items():
        path = run.run_dir / rel / "manifest.json"
        if point != "model" and path.is_file():
            runs[point] = json.loads(path.read_text())
    out: dict[str, dict[str, float]] = {}
    for point, manifest in runs.items():
        for name, info in (manifest.get("variants") or {}).items():
            timing = info.get("timing") if isinstance(info, dict) else None
            if isinstance(timing, dict) and timing.get("connection_us"):
                out.setdefault(name, {})[point] = timing["connection_us"] / 1000
    return out


def stack_bands(tables: dict[str, pd.DataFrame]) -> list[StackBand]:
    """Per stack (the control left out): its figure and verdicts at each point."""
    model = tables["model"]
    stacks = list(dict.fromkeys(model.loc[model["role"] != headline.CONTROL, "stack"]))
    out = []
    for stack in stacks:
        band = StackBand(stack, same_as_model=[p for p in POINTS if p not in tables])
        for point, table in tables.items():
            rows = table[table["stack"] == stack] if not table.empty else table
            if rows.empty:
                continue
            band.figure[point] = headline.span(rows["stack_fault_rate"])
            band.duels[point] = int(rows["duels"].sum())
            judged = rows.dropna(subset=["excess"])
            band.verdict[point] = headline.stack_verdict(judged) if len(judged) else "uncompared"
            band.condition_rate[point] = {
                c: headline.span(pd.Series([r]))
                for c, r in zip(rows["condition"], rows["stack_fault_rate"], strict=True)
            }
            band.conditions[point] = {
                c: headline.row_verdict(lo, hi)
                for c, lo, hi in judged[["condition", "excess_low", "excess_high"]].itertuples(
                    index=False
                )
            }
        out.append(band)
    return out


def status_line(run: RunData) -> str | None:
    """Why this run has no band to show (host speed, not measured), or None."""
    if read_band(run) is not None:
        return None
    hosts = at_host_speed(run)
    if hosts:
        return (
            f"{headline.names(hosts)} ran at {HOST_LABEL}: the timing band, the chip model's "
            "interval, was not measured"
        )
    if (run.manifest.get("timing_band") or {}).get("state") == "interrupted":
        return INTERRUPTED
    if (run.run_dir / "seed.json").is_file():
        return IN_SEED_STUDY
    return NOT_MEASURED


def band_items(run: RunData, doc: dict) -> tuple[list[str], list[str]]:
    """(HTML list items for the answer screen, per-cell findings of band.sensitive)."""
    tables, missing = point_tables(run, doc)
    speeds = point_speeds(run, doc)
    items = []
    for band in stack_bands(tables):
        band.speed_ms = speeds.get(band.stack, {})
        moves = band.moves()
        text = show.html.escape(band.text())
        if moves:  # the tag first, after the stack's name, where a reader's eye lands
            name = show.html.escape(f"{band.stack}: ")
            text = f"{name}<b>timing-sensitive</b>: {text.removeprefix(name)}; " + "; ".join(
                show.html.escape(m) for m in moves
            )
        items.append(text)
    if missing:
        items.append(show.html.escape("band runs not found: " + ", ".join(missing)))
    cells = [
        f"{cid}: " + "; ".join(cell["timing_sensitive"])
        for cid, cell in (doc.get("cells") or {}).items()
        if cell.get("timing_sensitive")
    ]
    return items, cells


def timing_band(run: RunData) -> None:
    """The band's block under the answer's sentences: one line per stack, or one saying why
    there is none."""
    line = status_line(run)
    doc = read_band(run)
    if line or doc is None:
        show.note(line or NOT_MEASURED)
        return
    items, cells = band_items(run, doc)
    head = "Across the chip's timing band (stack-fault rate at the model; its ends):"
    show.display(
        show.HTML(
            f'<div class="cb-note">{show.html.escape(head)}<ul>'
            + "".join(f"<li>{i}</li>" for i in items)
            + "</ul></div>"
        )
    )
    if cells:
        with show.folded(f"Cells whose verdicts move inside the band ({len(cells)})"):
            show.bullets(cells)
