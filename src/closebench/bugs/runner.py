"""Run the bug catalogue: each stack's trigger probes once, every entry judged on the result;
and each entry's before/after pair (the commit just before the fix and the fix commit).

Probes run as the verify step runs them (closebench.probes.verify.run_probes: a fresh device
per probe, its own sandbox); this module only chooses the probes and judges their results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from closebench.bench import source_ref
from closebench.bugs.catalogue import Bug, Pair
from closebench.bugs.judge import Verdict, judge, observation_for, pair_result
from closebench.errors import UserError
from closebench.probes.verify import run_probes
from closebench.schema import write_json
from closebench.variants.manifest import Variant, load_variant

FORMAT_VERSION = 1
BUGS_FILE = "bugs.json"
Log = Callable[[str], None]


def _probe_rows(
    variant: Variant, probes: list[str], out: Path, source_mode: str, log: Log, jobs: int
) -> tuple[list[dict[str, Any]], str]:
    if not probes:
        return [], ""
    data = run_probes(variant, probes, out, log=log, jobs=jobs, source_mode=source_mode)
    broken = [
        f"{n}: {i['status']}"
        for n, i in (data.get("probes") or {}).items()
        if i.get("status") != "ok"
    ]
    for line in broken:
        log(f"  {variant.label}: probe {line}")
    return list(data.get("results") or []), str(data.get("source") or "kernel")


def run_stacks(
    bugs: Sequence[Bug],
    variants: Sequence[Variant],
    out: Path,
    *,
    source_mode: str = "auto",
    jobs: int = 4,
    log: Log = print,
) -> dict[str, Any]:
    """Every entry against every stack: {stack: {bug: verdict}} plus each stack's source."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    sources: dict[str, str] = {}
    for variant in variants:
        wanted = sorted({b.probe for b in bugs if b.status_for(variant.name) is None})
        log(f"bugs: {variant.name}: probes {', '.join(wanted) or 'none (no entry applies)'}")
        rows, sources[variant.name] = _probe_rows(
            variant, wanted, out / "stacks", source_mode, log, jobs
        )
        table[variant.name] = {
            b.id: judge(b, variant.name, observation_for(b, rows)).to_json() for b in bugs
        }
    return {"table": table, "sources": sources}


def _at(variant: Variant, refs: dict[str, str], dirs: Sequence[str], log: Log) -> Variant:
    parsed = source_ref.parse_repo_dirs(dirs)
    return source_ref.at_ref(variant, dict(refs), parsed, log)


def run_pair(
    bug: Bug, pair: Pair, out: Path, repo_dirs: Sequence[str], jobs: int, log: Log
) -> dict[str, Any]:
    """The pair's two builds probed with the bug's trigger; 'shown' when present -> absent."""
    base = load_variant(pair.variant)
    verdicts: dict[str, Verdict] = {}
    names: dict[str, str] = {}
    for side, refs in (("before", pair.refs_before), ("after", pair.refs_after)):
        try:
            stack = _at(base, refs, repo_dirs, log)
            rows, _ = _probe_rows(stack, [bug.probe], out / "pairs" / bug.id, "exact", log, jobs)
            names[side] = stack.name
            verdicts[side] = judge(bug, stack.name, observation_for(bug, rows))
        except UserError as exc:  # an archive missing, a build failing: say so, go on
            names[side] = f"{pair.variant}@{next(iter(refs.values()))[:7]}"
            verdicts[side] = Verdict("not built", detail=str(exc))
        log(f"bugs: {bug.id} {side} ({names[side]}): {verdicts[side].status}")
    return {
        "bug": bug.id,
        "variant": pair.variant,
        "before": {
            "stack": names["before"],
            "refs": pair.refs_before,
            **verdicts["before"].to_json(),
        },
        "after": {"stack": names["after"], "refs": pair.refs_after, **verdicts["after"].to_json()},
        "result": pair_result(verdicts["before"], verdicts["after"]),
        "note": pair.note,
    }


def run_catalogue(
    bugs: Sequence[Bug],
    variants: Sequence[Variant],
    out: Path,
    *,
    pairs: bool = False,
    repo_dirs: Sequence[str] = (),
    source_mode: str = "auto",
    jobs: int = 4,
    log: Log = print,
) -> dict[str, Any]:
    """Run, write out/bugs.json and return it."""
    started = datetime.now(UTC).isoformat()
    out.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"format": FORMAT_VERSION, "started": started}
    data["bugs"] = [bug_record(b) for b in bugs]
    data["stacks"] = [v.name for v in variants]
    data.update(run_stacks(bugs, variants, out, source_mode=source_mode, jobs=jobs, log=log))
    data["pairs"] = (
        [run_pair(b, p, out, repo_dirs, jobs, log) for b in bugs for p in b.pairs] if pairs else []
    )
    data["no_pair"] = {b.id: b.pair_status for b in bugs if not b.pairs}
    write_json(out / BUGS_FILE, data)
    return data


def bug_record(bug: Bug) -> dict[str, Any]:
    return {
        "id": bug.id,
        "title": bug.title,
        "layer": bug.layer,
        "report": bug.report,
        "fix": bug.fix,
        "probe": bug.probe,
        "behaviour": bug.behaviour,
        "wire_present": bug.wire_present,
        "wire_absent": bug.wire_absent,
    }
