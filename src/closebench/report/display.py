"""Notebook-side output helpers: everything the HTML reader sees is emitted through these.

Figures are saved to PNG bytes and embedded as <img> tags instead of relying on the inline
backend, so the output is the same whatever MPLBACKEND the kernel inherited.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, display
from matplotlib.figure import Figure

CSS = """
<style>
.cb-banner{background:#c0392b;color:#fff;padding:14px 18px;font-size:1.3em;font-weight:bold;
  border-radius:4px;margin:8px 0}
.cb-warn{background:#fdebd0;border-left:5px solid #e67e22;padding:8px 12px;margin:6px 0}
.cb-note{background:#eaf2f8;border-left:5px solid #5dade2;padding:8px 12px;margin:6px 0}
table.cb{border-collapse:collapse;margin:6px 0 14px 0;font-size:0.9em}
table.cb th,table.cb td{border:1px solid #ccc;padding:3px 8px;text-align:left !important;
  vertical-align:top}
table.cb th{background:#f2f3f4}
table.cb td.bad{background:#f5b7b1;font-weight:bold}
table.cb td.good{background:#d5f5e3}
img.cb-fig{max-width:100%;height:auto}
details.cb{border:1px solid #ddd;border-radius:4px;padding:4px 10px;margin:8px 0}
details.cb>summary{cursor:pointer;font-weight:bold;color:#34495e}
ul.cb-answer li{margin:4px 0;font-size:1.05em}
.cb-caption{color:#555;font-size:0.9em;margin-top:-4px}
</style>
"""


def style() -> None:
    display(HTML(CSS))


def fig(figure: Figure | None, empty: str = "Nothing to plot.") -> None:
    if figure is None:
        note(empty)
        return
    # An <img> with alt text (the figure's title) rather than an image output: nbconvert's
    # template cannot carry alt text for image outputs.
    titles = [ax.get_title(loc) for ax in figure.axes for loc in ("center", "left")]
    alt = next((t for t in titles if t), "figure")
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    display(
        HTML(f'<img class="cb-fig" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">')
    )


def _cell(value: object, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f"<td{c}>{html.escape(str(value))}</td>"


def table(
    frame: pd.DataFrame,
    caption: str = "",
    *,
    empty: str = "No data.",
    classes: pd.DataFrame | None = None,
    index: bool = False,
) -> None:
    """A plain HTML table; `classes` (same shape) marks cells 'bad'/'good'."""
    if frame is None or frame.empty:
        note(empty)
        return
    if index:
        frame = frame.reset_index()
        if classes is not None:
            classes = classes.reset_index(drop=True)
            classes.insert(0, "_i", "")
            classes.columns = frame.columns[: len(classes.columns)]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for i, row in enumerate(frame.itertuples(index=False)):
        cls = classes.iloc[i].tolist() if classes is not None else [""] * len(row)
        rows.append("<tr>" + "".join(_cell(v, k) for v, k in zip(row, cls, strict=False)) + "</tr>")
    cap = f'<p class="cb-caption">{html.escape(caption)}</p>' if caption else ""
    display(HTML(f'<table class="cb"><tr>{head}</tr>{"".join(rows)}</table>{cap}'))


def banner(text: str) -> None:
    display(HTML(f'<div class="cb-banner">{html.escape(text)}</div>'))


def warn(text: str) -> None:
    display(HTML(f'<div class="cb-warn">⚠ {html.escape(text)}</div>'))


def note(text: str) -> None:
    display(HTML(f'<div class="cb-note">{html.escape(text)}</div>'))


def bullets(items: list[str], empty: str = "None recorded.") -> None:
    if not items:
        note(empty)
        return
    lis = "".join(f"<li>{html.escape(i)}</li>" for i in items)
    display(HTML(f"<ul>{lis}</ul>"))


@contextmanager
def folded(summary: str, *, is_open: bool = False) -> Iterator[None]:
    """Everything displayed inside goes into one collapsible <details> block.

    Each display() call is its own output in the notebook, so a block must be one output:
    the module's display is swapped for a collector while the block runs (sections call
    `show.display`, which is looked up here at call time).
    """
    global display
    parts: list[str] = []
    real = display

    def collect(obj: object, *args: object, **kwargs: object) -> None:
        parts.append(obj.data if isinstance(obj, HTML) else html.escape(str(obj)))

    display = collect
    try:
        yield
    finally:
        display = real
        flag = " open" if is_open else ""
        body = "".join(parts)
        head = f'<details class="cb"{flag}><summary>{html.escape(summary)}</summary>'
        real(HTML(f"{head}{body}</details>"))
