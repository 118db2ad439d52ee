"""Bisect a variant's source history for the first commit whose close handling differs.

The commits between GOOD and BAD come from the source repository's history (a clone or mirror
given with --repo-dir: `git rev-list --topo-order GOOD..BAD -- <the paths the build reads>`,
as `git bisect` restricted to those paths), or, without a clone, from the archives present
(ordered by the commit time git archive and GitHub store in the tarball).

Each step builds the variant's own stack at one commit, probes it and runs the cells (one run
directory per step), then decides with the test `regress` uses: per load x link condition,
repetitions pooled, Fisher's exact test (an expected count < 5) or the two-proportion z-test,
Holm over the conditions, and a difference only counts past the minimum effect (2 points). A
step that differs from GOOD is "bad": the search finds the first commit whose behaviour in the
metric is no longer GOOD's. A commit that does not build is skipped, as `git bisect skip`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from closebench.errors import UserError
from closebench.schema import write_json
from closebench.teardown.rates import Rate

Log = Callable[[str], None]
# metric name -> (regress's row name, CellStats count attribute or close kind)
METRICS = {
    "stack_fault_rate": ("stack fault rate", "stack_faults"),
    "faulty_rate": ("faulty rate", "faulty"),
    "duel_rate": ("duel rate", "duels"),
}
KIND_PREFIX = "close_kind_"


def metric_names() -> list[str]:
    from closebench.regress.baseline import CLOSE_KINDS

    return [*METRICS, *(f"{KIND_PREFIX}{k}" for k in CLOSE_KINDS)]


def check_metric(name: str) -> None:
    if name not in metric_names():
        raise UserError(f"--metric {name!r}: one of {', '.join(metric_names())}", exit_code=2)


# --- the commits ---------------------------------------------------------------------------


def commits_from_git(repo_dir: Path, good: str, bad: str, paths: Sequence[str]) -> list[str]:
    """Candidates oldest first, BAD last: commits after GOOD up to BAD that touch `paths`."""
    from closebench.bench.source_ref import git, is_ancestor

    if not is_ancestor(repo_dir, good, bad):
        raise UserError(f"{good[:7]} is not an ancestor of {bad[:7]} in {repo_dir}", exit_code=2)
    out = git(repo_dir, "rev-list", "--topo-order", "--reverse", f"{good}..{bad}", "--", *paths)
    commits = out.split()
    if not commits or commits[-1] != bad:
        commits = [c for c in commits if c != bad] + [bad]  # BAD itself may not touch paths
    return commits


def archive_time(path: Path) -> float:
    """Commit time of an archive: the mtime git archive and GitHub give every member."""
    try:
        with tarfile.open(path) as tar:
            first = tar.next()
            return float(first.mtime) if first is not None else math.nan
    except (tarfile.TarError, OSError) as exc:
        raise UserError(f"{path}: not a readable .tar.gz ({exc})") from None


def commits_from_archives(repo: str, good: str, bad: str) -> list[str]:
    """Without a clone: the archives present of `repo`, ordered by commit time, after GOOD."""
    from closebench.bench import exact_source
    from closebench.bench.source_ref import present_commits

    times = {}
    for commit in present_commits(repo):
        path = exact_source.find_archive(exact_source.Archive(repo, commit, (), ""))
        assert path is not None
        times[commit] = archive_time(path)
    for end in (good, bad):
        if end not in times:
            raise UserError(
                f"no archive of {repo}@{end[:7]} here to order the history by; pass --repo-dir",
                exit_code=2,
            )
    inside = [c for c in times if times[good] < times[c] <= times[bad] and c not in (good, bad)]
    return [*sorted(inside, key=lambda c: (times[c], c)), bad]


# --- the decision --------------------------------------------------------------------------


def run_rates(run_dir: Path, metric: str) -> dict[str, Rate]:
    """Per condition (profile / link): the metric's count over connections, reps pooled."""
    from closebench.regress.baseline import load_run

    out: dict[str, Rate] = {}
    for cell in load_run(run_dir).cells.values():
        key = f"{cell.profile} / {cell.link}"
        if metric.startswith(KIND_PREFIX):
            k = cell.close_kinds.get(metric.removeprefix(KIND_PREFIX), 0)
        else:
            k = getattr(cell, METRICS[metric][1])
        rate = out.setdefault(key, Rate(0, 0))
        rate.k += int(k)
        rate.n += cell.connections
    return out


@dataclass
class Decision:
    differs: bool
    rows: list[dict[str, Any]]


def decide(base: dict[str, Rate], now: dict[str, Rate], metric: str, alpha: float) -> Decision:
    """regress's test on pooled rates: Fisher/z per condition, Holm, minimum effect."""
    from closebench.regress.compare import Row, Thresholds, proportion_test
    from closebench.regress.compare import decide as holm_decide

    th = Thresholds(alpha=alpha)
    rows = []
    for cond in sorted(set(base) & set(now)):
        b, n = base[cond], now[cond]
        if not b.n or not n.n:
            continue
        row = Row("", cond, metric, 100 * b.p, 100 * n.p, "%", note=f"{b.k}/{b.n} -> {n.k}/{n.n}")
        if b.k * n.n != n.k * b.n:
            row.p_raw, row.test = proportion_test(b.k, b.n, n.k, n.n)
        rows.append(row)
    if not rows:
        raise UserError("no condition with connections on both sides to compare", exit_code=2)
    holm_decide(rows, th)
    differs = any(r.verdict in ("regressed", "improved") for r in rows)
    return Decision(differs, [_row_dict(r) for r in rows])


def _row_dict(r: Any) -> dict[str, Any]:
    return {
        "condition": r.cell,
        "base_pct": r.base,
        "now_pct": r.now,
        "p_holm": r.p_adj,
        "test": r.test,
        "verdict": r.verdict,
        "counts": r.note,
    }


# --- evidence ------------------------------------------------------------------------------


def characteristic(run_dir: Path, metric: str) -> dict[str, Any] | None:
    """One connection that shows the metric's behaviour: of the most frequent close kind among
    the counted connections (all connections when none is counted), the median teardown."""
    import pandas as pd

    frames = []
    for cell_dir in sorted(p for p in run_dir.iterdir() if (p / "connections.parquet").is_file()):
        frame = pd.read_parquet(cell_dir / "connections.parquet")
        frames.append(frame.assign(cell_id=cell_dir.name))
    if not frames:
        return None
    conns = pd.concat(frames, ignore_index=True)
    column = {"stack_fault_rate": "stack_fault", "faulty_rate": "faulty", "duel_rate": "duel"}
    if metric in column and column[metric] in conns:
        counted = conns[conns[column[metric]].astype(bool)]
    elif metric.startswith(KIND_PREFIX):
        counted = conns[conns["close_kind"] == metric.removeprefix(KIND_PREFIX)]
    else:
        counted = conns.iloc[:0]
    pool = counted if not counted.empty else conns
    kind = pool["close_kind"].astype(str).value_counts().idxmax()
    pool = pool[pool["close_kind"].astype(str) == kind].sort_values("teardown_pkts")
    row = pool.iloc[len(pool) // 2]
    return {
        "cell": str(row["cell_id"]),
        "conn_id": int(row["conn_id"]),
        "client_port": int(row["client_port"]),
        "close_kind": kind,
        "history": str(row.get("history", "")),
        "teardown_pkts": int(row["teardown_pkts"]),
        "counted": not counted.empty,
    }


# --- the search ----------------------------------------------------------------------------


@dataclass
class Step:
    commit: str
    label: str
    verdict: str  # good | bad | skip
    run_dir: str | None
    rates: dict[str, str] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


@dataclass
class Outcome:
    first_bad: str | None
    candidates: list[str]  # between GOOD and BAD, oldest first (BAD last)
    steps: list[Step]
    remaining: list[str]  # when skips leave several candidates (as git bisect says)
    evidence: dict[str, Any]


# measure(commit) -> the step's run directory; raises BuildFailed when it does not build
Measure = Callable[[str], Path]


class BuildFailed(Exception):
    """The commit does not build: bisect skips it."""


def pick(lo: int, hi: int, skipped: set[int]) -> int | None:
    """The untested index nearest the middle of (lo, hi), as git bisect picks around skips."""
    inside = [i for i in range(lo + 1, hi) if i not in skipped]
    if not inside:
        return None
    mid = (lo + hi) / 2
    return min(inside, key=lambda i: (abs(i - mid), i))


def search(
    candidates: list[str],
    good: str,
    measure: Measure,
    metric: str,
    alpha: float,
    log: Log = print,
    label: Callable[[str], str] = lambda c: c[:7],
    rates_of: Callable[[Path, str], dict[str, Rate]] | None = None,
) -> Outcome:
    """Binary search over `candidates` (oldest first, BAD last) against GOOD's measurement.

    rates_of(run_dir, metric) reads a step's rates (default: the run directory's cells)."""
    rates = rates_of or run_rates
    steps: list[Step] = []
    try:
        good_dir = measure(good)
    except BuildFailed as exc:
        raise UserError(f"the good end {good[:7]} does not build ({exc})", exit_code=2) from None
    good_rates = rates(good_dir, metric)
    steps.append(Step(good, label(good), "good", str(good_dir), _texts(good_rates)))
    bad = candidates[-1]
    try:
        bad_dir = measure(bad)
    except BuildFailed as exc:
        raise UserError(f"the bad end {bad[:7]} does not build ({exc})", exit_code=2) from None
    verdict = decide(good_rates, rates(bad_dir, metric), metric, alpha)
    steps.append(
        Step(bad, label(bad), "bad", str(bad_dir), _texts(rates(bad_dir, metric)), verdict.rows)
    )
    log(f"bad end {label(bad)}: " + _summary(verdict))
    if not verdict.differs:
        steps[-1].verdict = "good"
        steps[-1].note = "does not differ from the good end: nothing to bisect"
        return Outcome(None, candidates, steps, [], {})
    lo, hi, skipped = -1, len(candidates) - 1, set()
    while (i := pick(lo, hi, skipped)) is not None:
        commit = candidates[i]
        left = len([j for j in range(lo + 1, hi) if j not in skipped])
        log(f"step {len(steps) - 1}: {label(commit)} ({left} candidate(s) left between the ends)")
        try:
            run_dir = measure(commit)
        except BuildFailed as exc:
            skipped.add(i)
            steps.append(Step(commit, label(commit), "skip", None, note=str(exc)))
            log(f"  {label(commit)}: skip (does not build: {exc})")
            continue
        now = rates(run_dir, metric)
        verdict = decide(good_rates, now, metric, alpha)
        state = "bad" if verdict.differs else "good"
        steps.append(Step(commit, label(commit), state, str(run_dir), _texts(now), verdict.rows))
        log(f"  {label(commit)}: {state} ({_summary(verdict)})")
        if verdict.differs:
            hi = i
        else:
            lo = i
    remaining = [candidates[j] for j in range(lo + 1, hi + 1) if j == hi or j in skipped]
    first = candidates[hi] if len(remaining) == 1 else None
    evidence = _evidence(steps, first, metric, rates_of is None) if first else {}
    return Outcome(first, candidates, steps, remaining, evidence)


def _texts(r: dict[str, Rate]) -> dict[str, str]:
    return {cond: rate.text() for cond, rate in sorted(r.items())}


def _summary(d: Decision) -> str:
    return "; ".join(
        f"{r['condition']}: {r['counts']}, p(Holm) "
        f"{'-' if r['p_holm'] is None else format(r['p_holm'], '.2g')}, {r['verdict']}"
        for r in d.rows
    )


def _evidence(steps: list[Step], first: str, metric: str, runs: bool) -> dict[str, Any]:
    by_commit = {s.commit: s for s in steps if s.run_dir}
    bad_step = by_commit[first]
    goods = [s for s in steps if s.verdict == "good" and s.run_dir]
    last_good = goods[-1] if goods else None
    return {
        "metric": metric,
        "first_bad": {"commit": first, "rates": bad_step.rates, "rows": bad_step.rows},
        "last_good_measured": {"commit": last_good.commit, "rates": last_good.rates}
        if last_good
        else None,
        "characteristic_bad": characteristic(Path(bad_step.run_dir or ""), metric)
        if runs
        else None,
        "characteristic_good": characteristic(Path(goods[0].run_dir or ""), metric)
        if runs and goods
        else None,
    }


# --- the command's driver -----------------------------------------------------------------


@dataclass
class Plan:
    variant: str
    good: str
    bad: str
    metric: str
    profiles: list[str]
    links: list[str]
    repetitions: int
    run_time_s: float
    cooldown_s: float
    repo_dirs: list[str]
    alpha: float = 0.01
    verify: bool = True
    verify_observe_s: float = 15.0
    results: Path | None = None
    device_speed: str = "host"  # as `run`: "model" puts the stack on the chip's modelled core


def run_bisect(plan: Plan, log: Log = print) -> tuple[Path, Outcome]:
    """Measure, search, and write bisect.json (and the step run directories) in one folder."""
    from closebench import paths
    from closebench.bench import source_ref
    from closebench.variants.manifest import load_variant

    check_metric(plan.metric)
    base = load_variant(plan.variant)
    if base.source is None:
        raise UserError(f"{plan.variant}: no [source] table, nothing to bisect", exit_code=2)
    if len(base.source.archives) != 1:
        raise UserError(f"{plan.variant}: bisect walks one repository's history", exit_code=2)
    archive = base.source.archives[0]
    dirs = source_ref.parse_repo_dirs(plan.repo_dirs)
    repo_dir = source_ref.repo_dir_for(archive.repo, dirs)
    good, _ = source_ref.resolve_ref(base, archive.repo, plan.good, repo_dir)
    bad, _ = source_ref.resolve_ref(base, archive.repo, plan.bad, repo_dir)
    if repo_dir is not None:
        candidates = commits_from_git(repo_dir, good, bad, archive.paths)
        origin = f"git history in {repo_dir} (paths {', '.join(archive.paths)})"
    else:
        candidates = commits_from_archives(archive.repo, good, bad)
        origin = "archives present, ordered by commit time"
    out = _bisect_dir(plan.results or paths.results_dir())
    log(f"bisect {plan.variant} {good[:7]}..{bad[:7]}: {len(candidates)} candidate commit(s) "
        f"from the {origin}; steps go to {out}")  # fmt: skip

    def measure(commit: str) -> Path:
        return _measure_step(plan, base, archive.repo, commit, dirs, out, log)

    outcome = search(candidates, good, measure, plan.metric, plan.alpha, log, _label)
    doc = _bisect_doc(plan, archive.repo, (good, bad), origin, outcome, repo_dir)
    write_json(out / "bisect.json", doc)
    return out, outcome


def _label(commit: str) -> str:
    return commit[:7]


def _measure_step(
    plan: Plan, base: Any, repo: str, commit: str, dirs: Any, out: Path, log: Log
) -> Path:
    """Build the variant at COMMIT and measure the plan's matrix on it; a step whose build
    or cells fail raises BuildFailed (the search then skips that commit)."""
    from closebench.bench import source_ref
    from closebench.bench.variant_build import resolve
    from closebench.pipeline import runner

    variant = source_ref.at_ref(base, {repo: commit}, dirs, log)
    try:
        variant, _build = resolve(variant, "exact", log)
    except UserError as exc:
        raise BuildFailed(str(exc).splitlines()[0]) from None
    matrix = runner.make_matrix(
        None,
        plan.profiles,
        plan.links,
        plan.repetitions,
        run_time_s=plan.run_time_s,
        cooldown_s=plan.cooldown_s,
        source_mode="exact",
        variant_list=[variant],
        device_speed=plan.device_speed,
    )
    run_dir = runner.run_matrix(
        matrix,
        kind=f"bisect-{_label(commit)}",
        results=out,
        log=log,
        verify=plan.verify,
        # the probes are evidence of each step's behaviour (in its manifest), never a
        # reason to leave a step unmeasured: the manifest's [expect] is the pinned commit's
        force=True,
        verify_observe_s=plan.verify_observe_s,
    )
    manifest = json.loads((run_dir / "manifest.json").read_text())
    if not manifest.get("complete") or any(c["status"] != "ok" for c in manifest["cells"]):
        raise BuildFailed(f"its cells did not all complete (see {run_dir})")
    return run_dir


def _bisect_doc(
    plan: Plan,
    repo: str,
    ends: tuple[str, str],
    origin: str,
    outcome: Outcome,
    repo_dir: Path | None,
) -> dict[str, Any]:
    """bisect.json: what was searched, each step with its probes' notes, the first bad commit."""
    from closebench.bench import source_ref

    return {
        "format": 1,
        "variant": plan.variant,
        "repo": repo,
        "good": ends[0],
        "bad": ends[1],
        "metric": plan.metric,
        "alpha": plan.alpha,
        "matrix": {
            "profiles": plan.profiles,
            "links": plan.links,
            "repetitions": plan.repetitions,
            "run_time_s": plan.run_time_s,
            "cooldown_s": plan.cooldown_s,
            "device_speed": plan.device_speed,
        },
        "history_from": origin,
        "candidates": outcome.candidates,
        "first_bad": outcome.first_bad,
        "remaining": outcome.remaining,
        "steps": [asdict(s) | {"probes": _probe_notes(s.run_dir)} for s in outcome.steps],
        "evidence": outcome.evidence,
        "dates": {c: source_ref.commit_date(repo_dir, c) for c in _measured(outcome)}
        if repo_dir
        else {},
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _probe_notes(run_dir: str | None) -> list[str]:
    """What the step's verify probes measured against the pinned commit's manifest."""
    if not run_dir:
        return []
    manifest = json.loads((Path(run_dir) / "manifest.json").read_text())
    return [
        f"{label}: {line}"
        for label, verdict in (manifest.get("verify") or {}).items()
        for line in verdict.get("contradictions") or []
    ]


def _measured(outcome: Outcome) -> list[str]:
    return [s.commit for s in outcome.steps]


def _bisect_dir(base: Path) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    out = base / f"{stamp}-bisect"
    n = 1
    while out.exists():
        n += 1
        out = base / f"{stamp}-bisect-{n}"
    out.mkdir()
    return out


def describe(outcome: Outcome, log: Log = print) -> None:
    """The answer in plain lines: the first bad commit and its evidence, or what is left."""
    for step in outcome.steps:
        where = step.run_dir or "-"
        rates_text = "; ".join(f"{k}: {v}" for k, v in step.rates.items())
        log(f"  {step.label} {step.verdict:4s} {rates_text or step.note}  ({where})")
    if outcome.first_bad is None:
        if outcome.remaining:
            log("first bad commit is one of (the others did not build): "
                + ", ".join(c[:7] for c in outcome.remaining))  # fmt: skip
        else:
            log("no first bad commit: the two ends do not differ in this metric")
        return
    ev = outcome.evidence
    log(f"first bad commit: {outcome.first_bad}")
    for row in ev["first_bad"]["rows"]:
        log(
            f"  {row['condition']}: good {row['base_pct']:.1f}% -> {row['now_pct']:.1f}% "
            f"({row['counts']}), {row['test']} p(Holm) {row['p_holm']}, {row['verdict']}"
        )
    for key in ("characteristic_good", "characteristic_bad"):
        c = ev.get(key)
        if c:
            log(
                f"  {key.split('_')[1]} side's characteristic connection: {c['cell']} conn "
                f"{c['conn_id']} (client port {c['client_port']}), {c['close_kind']}, history "
                f"{c['history']}, {c['teardown_pkts']} teardown packets"
            )
