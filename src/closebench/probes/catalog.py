"""The probe scripts: one file per behaviour under benchmarks/probes/, the file name is the ID."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from closebench.errors import UserError
from closebench.paths import benchmarks_dir

# Fast, distinguishing probes first; the order is also the report's row order.
ORDER = (
    "client_fin_first", "close_with_unread", "client_fin_ack", "rst_validation",
    "syn_in_time_wait", "rst_in_time_wait", "admission", "accept_queue", "serial_service",
    "syn_ack_retransmission", "tw_cap", "time_wait_length", "fin_wait_2", "last_ack",
    "fin_retransmission", "heap_exhaustion",
)  # fmt: skip


def probes_dir() -> Path:
    return benchmarks_dir() / "probes"


def bug_probes_dir() -> Path:
    """Probes that only the bug catalogue runs (`closebench bugs`), never the verify step."""
    return benchmarks_dir() / "bugs" / "probes"


def probe_names() -> list[str]:
    found = {p.stem for p in probes_dir().glob("*.py") if not p.stem.startswith("_")}
    return [n for n in ORDER if n in found] + sorted(found - set(ORDER))


def probe_file(name: str) -> Path:
    for folder in (probes_dir(), bug_probes_dir()):
        path = folder / f"{name}.py"
        if path.is_file():
            return path
    raise UserError(f"unknown probe {name!r} (known: {', '.join(probe_names())})")


def load_probe(name: str, path: Path | None = None) -> ModuleType:
    path = path or probe_file(name)
    spec = importlib.util.spec_from_file_location(f"closebench_probe_{name}", path)
    if spec is None or spec.loader is None:
        raise UserError(f"{path}: cannot be loaded as a probe")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)) or not getattr(module, "BEHAVIOURS", None):
        raise UserError(f"{path}: a probe defines BEHAVIOURS and run(ctx)")
    return module


def parse_list(text: str | None) -> list[str] | None:
    """`a,b` from the command line -> names, each checked; None means all."""
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        probe_file(name)
    return names
