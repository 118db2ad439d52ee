"""Load a run directory (results/README.md) into one object the report reads from.

Everything here tolerates partial data: a missing file becomes an empty frame or None and a
note in `RunData.problems`, never an exception, because a report of a half-broken run is
exactly when a reader needs one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from closebench.schema import read_manifest


@dataclass
class Cell:
    """One cell of the matrix as the manifest lists it, plus what its folder holds."""

    id: str
    variant: str
    profile: str
    link: str
    repetition: int
    lwip: str
    status: str
    dir: Path
    stack: str = ""  # display label: variant, plus the lwIP release when a run has several
    metrics: dict[str, Any] = field(default_factory=dict)
    events: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def condition(self) -> str:
        """The column of the heatmap: load profile / link profile."""
        return f"{self.profile} / {self.link}"

    def event(self, name: str, clock: str = "capture") -> float | None:
        """An event time (epoch s) from events.json, None when absent."""
        ev = (self.events.get("events") or {}).get(name) or {}
        value = ev.get(clock, ev.get("wall"))
        return float(value) if value is not None else None


@dataclass
class RunData:
    run_dir: Path
    manifest: dict[str, Any]
    cells: list[Cell]
    connections: pd.DataFrame  # all cells' connections.parquet with cell columns added
    device: pd.DataFrame  # all cells' device.csv with cell columns added
    requests: pd.DataFrame  # all cells' requests.csv with cell columns added
    probes: dict[str, dict[str, Any]]  # variant -> probes/<variant>.json
    problems: list[str]  # human-readable notes about missing or unreadable files

    @property
    def complete(self) -> bool:
        return self.manifest.get("complete") is True

    def variant_info(self, name: str) -> dict[str, Any]:
        """The manifest's entry for a variant (manifest `variants` may be a list or a map)."""
        variants = self.manifest.get("variants") or {}
        if isinstance(variants, dict):
            info = variants.get(name)
            return info if isinstance(info, dict) else {}
        for info in variants:
            if isinstance(info, dict) and info.get("name") == name:
                return info
        return {}

    @property
    def stacks(self) -> list[str]:
        """Display labels in manifest order, lwIP releases of one variant next to each other."""
        seen: dict[str, None] = {}
        for cell in sorted(self.cells, key=lambda c: (self._variant_order(c.variant), c.lwip)):
            seen.setdefault(cell.stack)
        return list(seen)

    def _variant_order(self, name: str) -> int:
        names = [c.variant for c in self.cells]
        return names.index(name)

    def cell(self, cell_id: str) -> Cell:
        return next(c for c in self.cells if c.id == cell_id)


def _json(path: Path, problems: list[str]) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        problems.append(f"{path.parent.name}/{path.name}: unreadable ({exc})")
        return {}
    return data if isinstance(data, dict) else {}


def _lwip_of(cell: dict[str, Any]) -> str:
    """The release a cell was put on by the release axis (--lwip), or "?" for its own stack."""
    return str(cell.get("lwip") or "?")


def _cells(run_dir: Path, manifest: dict[str, Any], problems: list[str]) -> list[Cell]:
    raw = manifest.get("cells")
    if not isinstance(raw, list):
        problems.append("manifest.json lists no cells")
        return []
    cells = []
    for entry in raw:
        if not isinstance(entry, dict) or "id" not in entry:
            problems.append(f"manifest.json: a cell entry without an id: {entry!r}")
            continue
        cid = str(entry["id"])
        # Fall back to the id's parts when a field is missing: <variant>__<profile>__<link>__r<n>
        parts = cid.split("__")
        variant = str(entry.get("variant") or parts[0])
        rep = entry.get("repetition")
        if rep is None and len(parts) > 3 and parts[3].startswith("r"):
            rep = parts[3][1:]
        cell = Cell(
            id=cid,
            variant=variant,
            profile=str(entry.get("profile") or (parts[1] if len(parts) > 1 else "?")),
            link=str(entry.get("link") or (parts[2] if len(parts) > 2 else "?")),
            repetition=int(rep) if str(rep or "").isdigit() else 1,
            lwip=_lwip_of(entry),
            status=str(entry.get("status") or "unknown"),
            dir=run_dir / cid,
        )
        cell.metrics = _json(cell.dir / "metrics.json", problems)
        cell.events = _json(cell.dir / "events.json", problems)
        cells.append(cell)
    # A variant measured on several lwIP releases gets the release in its label, so the
    # releases sit side by side in every table and figure instead of being pooled.
    releases: dict[str, set[str]] = {}
    for cell in cells:
        releases.setdefault(cell.variant, set()).add(cell.lwip)
    for cell in cells:
        several = len(releases[cell.variant]) > 1
        cell.stack = f"{cell.variant} (lwIP {cell.lwip})" if several else cell.variant
    # The manifest lists cells as they finished; a reader looks them up by name.
    return sorted(cells, key=lambda c: c.id)


def _tag(frame: pd.DataFrame, cell: Cell) -> pd.DataFrame:
    frame = frame.copy()
    frame["cell_id"] = cell.id
    frame["stack"] = cell.stack
    frame["variant"] = cell.variant
    frame["condition"] = cell.condition
    frame["repetition"] = cell.repetition
    return frame


def _table(cell: Cell, name: str, problems: list[str], *, required: bool) -> pd.DataFrame | None:
    path = cell.dir / name
    if not path.is_file():
        if required and cell.ok:
            problems.append(f"{cell.id}: no {name}")
        return None
    try:
        frame = pd.read_parquet(path) if name.endswith(".parquet") else pd.read_csv(path)
    except Exception as exc:  # any reader error is a broken file, which the report shows
        problems.append(f"{cell.id}/{name}: unreadable ({type(exc).__name__}: {exc})")
        return None
    return _tag(frame, cell)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if f is not None and not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_run(run_dir: Path | str) -> RunData:
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    problems: list[str] = []
    cells = _cells(run_dir, manifest, problems)
    conns, devices, requests = [], [], []
    for cell in cells:
        conns.append(_table(cell, "connections.parquet", problems, required=True))
        devices.append(_table(cell, "device.csv", problems, required=True))
        requests.append(_table(cell, "requests.csv", problems, required=False))
    connections = _concat(conns)
    for col in ("faulty", "duel"):
        if col in connections:
            connections[col] = connections[col].fillna(False).astype(bool)
    probes: dict[str, dict[str, Any]] = {}
    probe_dir = run_dir / "probes"
    if probe_dir.is_dir():
        for path in sorted(probe_dir.glob("*.json")):
            data = _json(path, problems)
            if data:
                probes[str(data.get("variant") or path.stem)] = data
    return RunData(
        run_dir=run_dir,
        manifest=manifest,
        cells=cells,
        connections=connections,
        device=_concat(devices),
        requests=_concat(requests),
        probes=probes,
        problems=problems,
    )
