"""Render a run directory's report: papermill executes analysis/report.ipynb, nbconvert turns
it into one self-contained HTML file without code, and summary.md is written beside it."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from closebench.errors import UserError
from closebench.paths import repo_root
from closebench.report.data import load_run
from closebench.report.summary import summary_markdown
from closebench.schema import read_manifest

KERNEL_NAME = "python3"


def notebook_path() -> Path:
    return repo_root() / "analysis" / "report.ipynb"


@contextmanager
def _kernel_env() -> Iterator[None]:
    """Make kernel "python3" mean *this* interpreter for the duration of the render.

    A "python3" kernelspec in the user's ~/.local/share/jupyter (or a system one) can point
    at another Python without closebench installed; JUPYTER_PATH is searched first, so a
    throwaway spec there wins without writing into the venv or the user's home.
    """
    saved = {
        k: os.environ.get(k)
        for k in ("JUPYTER_PATH", "MPLBACKEND", "PYDEVD_DISABLE_FILE_VALIDATION")
    }
    with tempfile.TemporaryDirectory(prefix="closebench-kernel-") as tmp:
        spec_dir = Path(tmp) / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "closebench (Python 3)",
            "language": "python",
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec))
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [tmp, saved["JUPYTER_PATH"]]))
        os.environ["MPLBACKEND"] = "Agg"
        os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # silences a debugpy warning on stderr
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _execute(run_dir: Path, out_nb: Path, allow_incomplete: bool) -> None:
    import papermill as pm  # slow import; only when rendering

    with _kernel_env():
        try:
            pm.execute_notebook(
                str(notebook_path()),
                str(out_nb),
                parameters={
                    "run_dir": str(run_dir.resolve()),
                    "allow_incomplete": allow_incomplete,
                },
                kernel_name=KERNEL_NAME,
                progress_bar=False,
                cwd=str(run_dir),
            )
        except pm.PapermillExecutionError as exc:
            raise UserError(
                f"the report notebook failed in cell {exc.exec_count} ({exc.ename}: {exc.evalue}); "
                f"see {out_nb}"
            ) from exc


def _export_html(executed: Path, out_html: Path, title: str) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.embed_images = True
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    # The lab template links MathJax and require.js from a CDN; the report uses neither, and
    # it must open offline, so those script tags are dropped.
    body = re.sub(r'<script[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>', "", body)
    out_html.write_text(body, encoding="utf-8")


def render_report(
    run_dir: Path, *, allow_incomplete: bool = False, log: Callable[[str], object] = print
) -> dict[str, Path]:
    """Execute the report notebook on run_dir; write report.ipynb, report.html, summary.md."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a directory")
    manifest = read_manifest(run_dir)
    if manifest.get("complete") is not True and not allow_incomplete:
        raise UserError(
            f"{run_dir}: manifest.json does not say complete: true (interrupted or still running); "
            "pass --allow-incomplete to render it anyway, marked INCOMPLETE"
        )
    if not notebook_path().is_file():
        raise UserError(f"{notebook_path()}: report notebook not found (set CLOSEBENCH_ROOT)")
    out = {
        "notebook": run_dir / "report.ipynb",
        "html": run_dir / "report.html",
        "summary": run_dir / "summary.md",
    }
    started = time.monotonic()
    log(f"report: loading {run_dir}")
    run = load_run(run_dir)
    out["summary"].write_text(summary_markdown(run), encoding="utf-8")
    log(f"report: wrote {out['summary']}")
    log(f"report: executing {notebook_path().name} ({len(run.cells)} cells in the run)")
    _execute(run_dir, out["notebook"], allow_incomplete)
    log(f"report: wrote {out['notebook']}")
    title = f"closebench report {manifest.get('run_id') or run_dir.name}"
    _export_html(out["notebook"], out["html"], title)
    log(f"report: wrote {out['html']} ({time.monotonic() - started:.1f} s)")
    return out
