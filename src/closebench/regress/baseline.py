"""Per-cell sufficient statistics, read from a run directory or a stored baseline.

A baseline (`results/baselines/<name>.json`) keeps, per cell, exactly what the regression
tests in `closebench.regress.compare` need and nothing else (no captures): counts per close_kind,
faulty/duel/after-load counts, the teardown_ms sample (a seeded bounded reservoir when a cell
is huge), the teardown_pkts histogram (exact and small: packet counts are small integers),
and the deterministic device/after-load figures. The same `CellStats` is computed from a
fresh run, so a baseline and a run are always compared through one code path.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import zlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from closebench import paths
from closebench.errors import UserError, where
from closebench.schema import RESULT_SCHEMA_VERSION, read_manifest, write_json
from closebench.teardown.classify import CLOSE_KINDS

BASELINE_FORMAT = "closebench-baseline"
BASELINE_FORMAT_VERSION = 1
# The result schema (results/README.md) this module reads; other versions are refused.
# Bounded so a baseline stays reviewable in git; 10k values give a p99 within a few tenths
# of a percentile of the full sample, and the bootstrap SE from it is, if anything, larger.
RESERVOIR_SIZE = 10_000
PARQUET_COLUMNS = (
    "close_kind", "faulty", "stack_fault", "loss_recovery", "duel",
    "teardown_ms", "teardown_pkts", "after_load_ms",
)  # fmt: skip
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class CellStats:
    """What the regression tests need from one cell, from a run or from a baseline."""

    cell_id: str
    variant: str
    profile: str
    link: str
    repetition: int
    lwip: str | None
    connections: int
    close_kinds: dict[str, int]
    faulty: int
    stack_faults: int  # the stack's doing (results/README.md: stack_fault)
    loss_recoveries: int  # graceful closes that recovered from link loss
    duels: int
    # Connections whose packets continued after the load stopped; None without a load-stop time.
    after_load_conns: int | None
    teardown_ms: tuple[float, ...]  # the sample, or a seeded reservoir of it
    teardown_ms_n: int  # teardowns in the cell (>= len(teardown_ms))
    teardown_ms_p99: float | None  # from the full sample, not the reservoir
    teardown_pkts_hist: dict[int, int]  # value -> number of connections
    after_load_ms_max: float | None
    peak_pcbs: int | None
    peak_time_wait: int | None
    alloc_fail: int | None
    capture_complete: bool | None
    params: dict[str, Any] = field(default_factory=dict)  # analyzer thresholds

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["teardown_ms"] = list(self.teardown_ms)
        data["teardown_pkts_hist"] = {str(k): v for k, v in sorted(self.teardown_pkts_hist.items())}
        return data

    @classmethod
    def from_json(cls, data: Any, origin: str) -> CellStats:
        """Rebuild from a baseline entry; a missing or mistyped field names itself."""
        if not isinstance(data, dict):
            raise UserError(f"{origin}: cell entry is not an object", exit_code=2)
        required = [f for f in cls.__dataclass_fields__ if f != "params"]
        missing = [f for f in required if f not in data]
        if missing:
            raise UserError(f"{origin}: missing field {missing[0]!r}", exit_code=2)
        try:
            return cls(
                cell_id=str(data["cell_id"]),
                variant=str(data["variant"]),
                profile=str(data["profile"]),
                link=str(data["link"]),
                repetition=int(data["repetition"]),
                lwip=None if data["lwip"] is None else str(data["lwip"]),
                connections=int(data["connections"]),
                close_kinds={str(k): int(v) for k, v in data["close_kinds"].items()},
                faulty=int(data["faulty"]),
                stack_faults=int(data["stack_faults"]),
                loss_recoveries=int(data["loss_recoveries"]),
                duels=int(data["duels"]),
                after_load_conns=_opt_int(data["after_load_conns"]),
                teardown_ms=tuple(float(x) for x in data["teardown_ms"]),
                teardown_ms_n=int(data["teardown_ms_n"]),
                teardown_ms_p99=_opt_float(data["teardown_ms_p99"]),
                teardown_pkts_hist={int(k): int(v) for k, v in data["teardown_pkts_hist"].items()},
                after_load_ms_max=_opt_float(data["after_load_ms_max"]),
                peak_pcbs=_opt_int(data["peak_pcbs"]),
                peak_time_wait=_opt_int(data["peak_time_wait"]),
                alloc_fail=_opt_int(data["alloc_fail"]),
                capture_complete=data["capture_complete"],
                params=dict(data.get("params") or {}),
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"{origin}: malformed cell entry ({exc})", exit_code=2) from None

    @property
    def group(self) -> tuple[str, str, str, str | None]:
        """The cell without its repetition: repetitions of one group are exchangeable."""
        return (self.variant, self.profile, self.link, self.lwip)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_float(value: Any) -> float | None:
    if value is None:
        return None
    out = float(value)
    return None if math.isnan(out) else out


def stats_from_frame(conns: pd.DataFrame, metrics: dict[str, Any], origin: str) -> CellStats:
    """Sufficient statistics of one cell from its connections table and metrics.json."""
    missing = [c for c in PARQUET_COLUMNS if c not in conns.columns]
    if missing:
        raise UserError(f"{origin}: connections.parquet lacks column {missing[0]!r}", exit_code=2)
    cell = _need(metrics, "cell", origin)
    analysis = _need(metrics, "analysis", origin)
    cell_id = str(_need(cell, "id", origin, "cell"))
    n = len(conns)
    if int(analysis.get("connections", n)) != n:
        raise UserError(
            f"{origin}: metrics.json says {analysis['connections']} connections, "
            f"connections.parquet has {n}; re-run `closebench analyze`",
            exit_code=2,
        )
    kinds = conns["close_kind"].astype(str).value_counts()
    unknown = sorted(set(kinds.index) - set(CLOSE_KINDS))
    if unknown:
        raise UserError(f"{origin}: unknown close_kind {unknown[0]!r}", exit_code=2)
    teardown = conns["teardown_ms"].to_numpy(dtype=float)
    teardown = teardown[~np.isnan(teardown)]
    after = conns["after_load_ms"].to_numpy(dtype=float)
    # NaN everywhere means the cell had no load-stop time: the metric does not exist.
    has_after = n > 0 and not np.isnan(after).all()
    pkts = conns["teardown_pkts"].to_numpy(dtype=np.int64)
    values, counts = np.unique(pkts, return_counts=True)
    device = metrics.get("device") or {}
    capture = metrics.get("capture") or {}
    return CellStats(
        cell_id=cell_id,
        variant=str(_need(cell, "variant", origin, "cell")),
        profile=str(_need(cell, "profile", origin, "cell")),
        link=str(_need(cell, "link", origin, "cell")),
        repetition=int(_need(cell, "repetition", origin, "cell")),
        lwip=None if cell.get("lwip") in (None, "") else str(cell["lwip"]),
        connections=n,
        close_kinds={k: int(kinds.get(k, 0)) for k in CLOSE_KINDS},
        faulty=int(conns["faulty"].astype(bool).sum()),
        stack_faults=int(conns["stack_fault"].astype(bool).sum()),
        loss_recoveries=int(conns["loss_recovery"].astype(bool).sum()),
        duels=int(conns["duel"].astype(bool).sum()),
        after_load_conns=int((np.nan_to_num(after) > 0).sum()) if has_after else None,
        teardown_ms=tuple(_reservoir(teardown, cell_id)),
        teardown_ms_n=len(teardown),
        teardown_ms_p99=float(np.quantile(teardown, 0.99)) if len(teardown) else None,
        teardown_pkts_hist={int(v): int(c) for v, c in zip(values, counts, strict=True)},
        after_load_ms_max=float(np.nanmax(after)) if has_after else None,
        peak_pcbs=_opt_int(device.get("peak_pcbs")),
        peak_time_wait=_opt_int(device.get("peak_time_wait")),
        alloc_fail=_opt_int(device.get("alloc_fail")),
        capture_complete=capture.get("complete"),
        params=dict(analysis.get("params") or {}),
    )


def _reservoir(sample: np.ndarray, cell_id: str) -> list[float]:
    """The sample rounded to microseconds, or a seeded uniform subsample of RESERVOIR_SIZE."""
    if len(sample) > RESERVOIR_SIZE:
        # Seeded by the cell id so saving the same run twice gives the same file.
        rng = np.random.default_rng(zlib.crc32(cell_id.encode()))
        sample = np.sort(rng.choice(sample, size=RESERVOIR_SIZE, replace=False))
    return [round(float(x), 3) for x in sample]


def _need(obj: Any, key: str, origin: str, parent: str | None = None) -> Any:
    name = f"{parent}.{key}" if parent else key
    if not isinstance(obj, dict) or key not in obj or obj[key] is None:
        raise UserError(f"{where(origin, name)} is missing", exit_code=2)
    return obj[key]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: not found", exit_code=2) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})", exit_code=2) from None


@dataclass(frozen=True)
class RunData:
    """A complete run directory, read into per-cell statistics."""

    path: Path
    manifest: dict[str, Any]
    cells: dict[str, CellStats]


def load_run(run_dir: Path) -> RunData:
    """Read a COMPLETE run: an interrupted run is never compared nor used as a baseline."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a run directory", exit_code=2)
    manifest = read_manifest(run_dir, exit_code=2)
    origin = str(run_dir / "manifest.json")
    if manifest.get("complete") is not True:
        raise UserError(
            f"{run_dir}: run is incomplete (manifest complete != true); re-run it", exit_code=2
        )
    cells: dict[str, CellStats] = {}
    for entry in _need(manifest, "cells", origin):
        cell_id = str(_need(entry, "id", origin, "cells[]"))
        status = str(entry.get("status", "ok"))
        if status != "ok":
            raise UserError(f"{run_dir}: cell {cell_id} is {status!r}, not ok", exit_code=2)
        cells[cell_id] = read_cell(run_dir / cell_id)
        if cells[cell_id].cell_id != cell_id:
            raise UserError(
                f"{run_dir / cell_id}/metrics.json: cell.id {cells[cell_id].cell_id!r} "
                f"does not match its folder",
                exit_code=2,
            )
    if not cells:
        raise UserError(f"{origin}: no cells", exit_code=2)
    return RunData(run_dir, manifest, cells)


def read_cell(cell_dir: Path) -> CellStats:
    metrics_path = cell_dir / "metrics.json"
    metrics = _read_json(metrics_path)
    if not isinstance(metrics, dict) or metrics.get("schema_version") != RESULT_SCHEMA_VERSION:
        raise UserError(
            f"{metrics_path}: schema_version is not {RESULT_SCHEMA_VERSION}", exit_code=2
        )
    parquet = cell_dir / "connections.parquet"
    try:
        conns = pd.read_parquet(parquet, columns=list(PARQUET_COLUMNS))
    except FileNotFoundError:
        raise UserError(
            f"{parquet}: not found; run `closebench analyze` first", exit_code=2
        ) from None
    except Exception as exc:  # pyarrow raises several types for bad files/columns
        raise UserError(
            f"{parquet}: unreadable ({type(exc).__name__}: {exc})", exit_code=2
        ) from None
    return stats_from_frame(conns, metrics, str(cell_dir))


def digest(obj: Any) -> str:
    """sha256 of canonical JSON: profile/link definitions are compared by content."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def harness_of(manifest: dict[str, Any]) -> dict[str, Any]:
    """What must be equal for figures to be comparable (pyperf refuses across harnesses)."""
    return {
        "schema_version": manifest.get("schema_version"),
        "backend": manifest.get("backend"),
        "run_time_s": manifest.get("run_time_s"),
        "cooldown_s": manifest.get("cooldown_s"),
        "profiles": {k: digest(_content(v)) for k, v in by_name(manifest.get("profiles")).items()},
        "links": {k: digest(_content(v)) for k, v in by_name(manifest.get("links")).items()},
        "machines": machines_of(manifest),
    }


def _content(definition: Any) -> Any:
    """A profile or link definition without where its file was (`path`): the same file in
    another checkout, or in the installed wheel, is the same definition."""
    if isinstance(definition, dict):
        return {k: v for k, v in definition.items() if k != "path"}
    return definition


def machines_of(manifest: dict[str, Any]) -> list[str]:
    """The architectures the cells ran on: the cluster's workers', else the run's host."""
    workers = manifest.get("workers") or {}
    hosts = list(workers.values()) if workers else [manifest.get("host") or {}]
    return sorted({str(h.get("machine")) for h in hosts if isinstance(h, dict)})


def baselines_dir() -> Path:
    return paths.results_dir() / "baselines"


def shipped_baselines_dir() -> Path:
    """The baselines that come with closebench (the checkout's, or the installed wheel's)."""
    return paths.repo_root() / "results" / "baselines"


def baseline_path(name: str, *, saving: bool = False) -> Path:
    """NAME -> results/baselines/NAME.json; an explicit *.json path is taken as is. To read,
    a name not among your results' baselines is looked up among the shipped ones."""
    if name.endswith(".json") or "/" in name:
        return Path(name)
    if not _NAME_RE.match(name):
        raise UserError(f"baseline name {name!r}: use letters, digits, '.', '_', '-'", exit_code=2)
    own = baselines_dir() / f"{name}.json"
    shipped = shipped_baselines_dir() / f"{name}.json"
    return own if saving or own.exists() or not shipped.exists() else shipped


def save_baseline(
    run_dir: Path, name: str, force: bool = False, variant: str | None = None
) -> Path:
    """Write results/baselines/NAME.json from a complete run (or from one variant's cells of
    it); refuse to overwrite unless forced."""
    target = baseline_path(name, saving=True)
    if target.exists() and not force:
        raise UserError(f"{target}: exists; pass --force to replace it", exit_code=2)
    run = load_run(run_dir)
    if variant is not None:
        run = only_variant(run, variant)
    m = run.manifest
    doc = {
        "format": BASELINE_FORMAT,
        "format_version": BASELINE_FORMAT_VERSION,
        "name": target.stem,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": {
            "run_id": m.get("run_id", run.path.name),
            "started": m.get("started"),
            "finished": m.get("finished"),
        },
        "suite": m.get("suite"),
        "harness": harness_of(m),
        "matrix": m.get("matrix"),
        "variants": m.get("variants"),
        "cells": {cid: s.to_json() for cid, s in sorted(run.cells.items())},
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    write_json(target, doc)  # atomic: a half-written baseline would fail every later comparison
    return target


def only_variant(run: RunData, variant: str) -> RunData:
    """The run narrowed to one variant: its cells, its manifest entry, a one-variant matrix,
    so that `regress --baseline` re-measures that variant alone."""
    cells = {cid: s for cid, s in run.cells.items() if s.variant == variant}
    if not cells:
        names = sorted({s.variant for s in run.cells.values()})
        raise UserError(
            f"{run.path}: no cells of variant {variant!r} (it has {', '.join(names)})",
            exit_code=2,
        )
    manifest = dict(run.manifest)
    manifest["matrix"] = dict(manifest.get("matrix") or {}) | {"variants": [variant]}
    manifest["variants"] = {
        k: v for k, v in by_name(manifest.get("variants")).items() if k == variant
    }
    return RunData(run.path, manifest, cells)


def by_name(section: Any) -> dict[str, dict[str, Any]]:
    """A manifest's variants, profiles or links (a mapping by name, or a list of named
    tables) by name; an entry that is not a table becomes {"value": entry}."""
    if isinstance(section, dict):
        items = section.items()
    elif isinstance(section, list):
        items = ((d.get("name", i) if isinstance(d, dict) else i, d) for i, d in enumerate(section))
    else:
        return {}
    return {str(k): v if isinstance(v, dict) else {"value": v} for k, v in items}


@dataclass(frozen=True)
class Baseline:
    name: str
    path: Path
    doc: dict[str, Any]
    cells: dict[str, CellStats]


def load_baseline(name: str) -> Baseline:
    """Read and validate a stored baseline; any defect is a one-line error, exit code 2."""
    path = baseline_path(name)
    if not path.exists():
        raise UserError(f"{path}: no such baseline; create it with `closebench baseline save`")
    doc = _read_json(path)
    origin = str(path)
    if not isinstance(doc, dict) or doc.get("format") != BASELINE_FORMAT:
        raise UserError(f"{origin}: not a closebench baseline (format field)", exit_code=2)
    if doc.get("format_version") != BASELINE_FORMAT_VERSION:
        raise UserError(
            f"{origin}: baseline format_version {doc.get('format_version')!r}, "
            f"this closebench reads {BASELINE_FORMAT_VERSION}; re-save it",
            exit_code=2,
        )
    for key in ("harness", "matrix", "variants", "cells"):
        _need(doc, key, origin)
    _need(doc["harness"], "schema_version", origin, "harness")
    if not isinstance(doc["cells"], dict) or not doc["cells"]:
        raise UserError(f"{origin}: cells is empty or not an object", exit_code=2)
    cells = {
        cid: CellStats.from_json(entry, f"{origin}: cells.{cid}")
        for cid, entry in doc["cells"].items()
    }
    return Baseline(str(doc.get("name", path.stem)), path, doc, cells)
