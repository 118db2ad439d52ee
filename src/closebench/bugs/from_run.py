"""The catalogue judged on a run's own verify probes (probes/<stack>.json), with no new
measurement: which catalogued bugs each stack of a run shows, and which a later ref or
release brings back. Only entries whose trigger probe is a verify probe can be judged so;
the others need `closebench bugs`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from closebench.bugs.catalogue import Bug, load_catalogue
from closebench.bugs.judge import ABSENT, PRESENT, Verdict, judge, observation_for


def probe_rows(run_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Each stack's verify probe results in the run (empty when the run skipped verify)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((Path(run_dir) / "probes").glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and isinstance(data.get("results"), list):
            out[str(data.get("variant") or path.stem)] = data["results"]
    return out


def verdicts(run_dir: Path, bugs: list[Bug] | None = None) -> dict[str, dict[str, Verdict]]:
    """{stack: {bug id: verdict}} for the bugs whose probe the run's verify step ran."""
    bugs = load_catalogue() if bugs is None else bugs
    out: dict[str, dict[str, Verdict]] = {}
    for stack, rows in probe_rows(run_dir).items():
        ran = {r.get("probe") for r in rows}
        out[stack] = {
            b.id: judge(b, stack, observation_for(b, rows)) for b in bugs if b.probe in ran
        }
    return out


def brought_back(
    old: dict[str, Verdict], new: dict[str, Verdict], bugs: list[Bug] | None = None
) -> list[str]:
    """One line per catalogued bug absent in `old` and present in `new`, by name."""
    titles = {b.id: b.title for b in (load_catalogue() if bugs is None else bugs)}
    return [
        f"{bug}: {titles.get(bug, '')} (measured {old[bug].measured!r} -> {v.measured!r})"
        for bug, v in new.items()
        if v.status == PRESENT and bug in old and old[bug].status == ABSENT
    ]


def pair_lines(run_dir: Path, base: str, now: str) -> list[str]:
    """`regress --pair BASE:NOW`: the catalogued bugs NOW brings back against BASE."""
    found = verdicts(run_dir)
    if base not in found or now not in found:
        return []
    return brought_back(found[base], found[now])
