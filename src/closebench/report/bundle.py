"""`closebench report RUN --bundle`: one archive of a run for a paper or release notes.

It holds what the report is rendered from and what it rendered: report.html, summary.md and
the executed notebook, the run manifest and probe results, each cell's connections.parquet,
metrics.json and small files (events, requests, device timeline), and the drawn connections'
own pcaps (flows/). The full captures stay out unless asked for (they are most of a run's
size). Unpacked, the folder is a run directory `closebench report` renders again: sections
that need a full capture draw from the flows/ excerpts instead.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

from closebench.errors import UserError
from closebench.schema import read_manifest

RUN_FILES = ("manifest.json", "report.html", "report.ipynb", "summary.md", "seed.json")
CELL_FILES = (
    "connections.parquet",
    "metrics.json",
    "events.json",
    "inner.json",
    "requests.csv",
    "load.csv",
    "load_failures.csv",
    "device.csv",
)
CAPTURES = ("capture-client.pcap", "capture-device.pcap")
RUN_FOLDERS = ("flows", "probes")


def bundle_members(run_dir: Path, *, with_captures: bool = False) -> Iterator[Path]:
    """The files of run_dir that go into the bundle, as paths inside run_dir."""
    manifest = read_manifest(run_dir)
    for name in RUN_FILES:
        if (run_dir / name).is_file():
            yield run_dir / name
    for folder in RUN_FOLDERS:
        if (run_dir / folder).is_dir():
            yield from sorted(p for p in (run_dir / folder).rglob("*") if p.is_file())
    cell_files = CELL_FILES + (CAPTURES if with_captures else ())
    for cell in manifest.get("cells") or []:
        cell_dir = run_dir / str(cell.get("id", ""))
        for name in cell_files:
            if (cell_dir / name).is_file():
                yield cell_dir / name


def write_bundle(
    run_dir: Path,
    *,
    with_captures: bool = False,
    out: Path | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Write <run-id>.tar.gz beside the run directory (or at `out`); returns its path."""
    run_dir = Path(run_dir).resolve()
    if not (run_dir / "report.html").is_file():
        raise UserError(f"{run_dir}: no report.html yet; render the report before bundling")
    dest = out or run_dir.with_name(f"{run_dir.name}.tar.gz")
    tmp = dest.with_name(dest.name + ".part")
    count = 0
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            for path in bundle_members(run_dir, with_captures=with_captures):
                tar.add(path, arcname=f"{run_dir.name}/{path.relative_to(run_dir)}")
                count += 1
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    size = dest.stat().st_size / 1e6
    log(
        f"bundle: {dest} ({count} files, {size:.1f} MB{', with captures' if with_captures else ''})"
    )
    return dest
