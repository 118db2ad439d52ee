"""Regression checks: did this firmware/SDK release make closing worse?

Rules (pyperf's compare_to, adapted to close faults):
- Every cell of the run is matched to the baseline cell with the same id. Same seeds give the
  same link impairment, so the pairing is meaningful; a different matrix is refused.
- Sampled metrics get a two-sided test; all p-values of one comparison form ONE family,
  Holm-corrected, because the CI question is "did anything in this run regress?" and Holm
  keeps P(any false alarm | nothing changed) <= alpha without assuming independence.
  - rates (stack fault rate overall and per close_kind, duels, connections active after the load):
    Fisher's exact test when an expected count is < 5 (faults are rare; the normal
    approximation is wrong there), else the pooled two-proportion z-test.
  - teardown_ms p99, as the log ratio now/base (1 ms added to each p99 so a 0 stays finite):
    each sample is bootstrapped on its own (fixed seed), the two bootstrap variances add, and
    the p-value is the normal tail of the observed log ratio over that SE (a Wald test). Not
    from the pooled sample: under a real change that mixes a short and a long tail and
    inflates the SE of a tail quantile (bootstrap_p99).
  - teardown packets per connection, as the difference of means: bootstrap under the null
    (both sides drawn from the pooled histogram, fixed seed); the p-value is the normal tail
    of the observed difference given the null distribution's centre and SE.
  Both take the normal tail rather than counting resamples, so small Holm thresholds are
  reachable without 10^5 resamples.
- A metric regresses only when significant AND at least the minimum effect in the worse
  direction; significant but smaller than the minimum effect is "same".
- The device's peak PCBs, a figure of the device's own timeline without a sample, uses a
  tolerance: the largest of an absolute floor, a relative margin and the spread of the
  baseline's repetitions of that cell. It carries no p-value and is outside alpha.
- Repetitions of one cell group that disagree beyond their intervals (stack-fault rate, 95 %
  Wilson intervals that do not all overlap, docs/repetitions.md) are named in the notes, on
  either side, and their stack-fault rows say so (regress/stability.py); the verdicts stand.
- The after-load max is shown but not judged: it is the largest of one cell's per-connection
  after-load times, so a single rare duel moves it by seconds (measured: the shipped
  nodemcu-2016 baseline re-measured unchanged, one cell had one duel of 17 s where the
  baseline's three repetitions had none, duel rate 0/59 -> 1/59, not significant). What it
  points at is judged with a sample: the rate of connections active after the load and the
  teardown p99.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from closebench.errors import UserError
from closebench.regress.baseline import (
    CLOSE_KINDS,
    Baseline,
    CellStats,
    by_name,
    harness_of,
    load_run,
)
from closebench.regress.stability import unstable_repetitions

VERDICTS = ("regressed", "improved", "not significant", "same")
FAULT_KINDS = tuple(k for k in CLOSE_KINDS if k != "graceful")


@dataclass(frozen=True)
class Thresholds:
    """Significance level and minimum effects; every field is a `--min-effect KEY=VALUE`."""

    alpha: float = 0.01  # family-wise, Holm, over all tested metrics of one comparison
    rate_pp: float = 2.0  # rates: +2 percentage points absolute
    p99_pct: float = 20.0  # teardown_ms p99: +20 % ...
    p99_ms: float = 5.0  # ... and +5 ms, so sub-ms jitter on a fast stack is not a finding
    pkts_pct: float = 20.0  # teardown packets per connection: +20 % ...
    pkts_abs: float = 0.5  # ... and +0.5 packet
    pcbs_abs: float = 3.0  # device peak PCBs tolerance: 3 PCBs ...
    # ... or 50 % of the baseline, whichever is larger. Measured on 6 identical real runs
    # (15 pairs): an uncapped stack's peak follows how many connections fit in its
    # TIME_WAIT window, which a lossy link moves by up to +42 % (48 -> 68) between runs.
    pcbs_pct: float = 50.0
    min_teardowns: int = 20  # fewer teardowns on a side: no p99 test (p99 of 19 is the max)
    bootstrap: int = 1000  # resamples; they only estimate centre and SE, 1000 is plenty
    seed: int = 20_240_601

    def with_overrides(self, pairs: Iterable[str]) -> Thresholds:
        """Apply `KEY=VALUE` strings (the CLI's --min-effect), naming a bad key."""
        known = {f.name: f.type for f in fields(self)}
        changes: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in known:
                raise UserError(
                    f"--min-effect {pair!r}: expected KEY=VALUE with KEY in "
                    f"{', '.join(k for k in known if k not in ('alpha', 'seed'))}",
                    exit_code=2,
                )
            try:
                num = float(value.rstrip("%").removesuffix("pp").removesuffix("ms"))
            except ValueError:
                raise UserError(f"--min-effect {pair!r}: {value!r} is not a number") from None
            if num < 0 or not math.isfinite(num):
                raise UserError(f"--min-effect {pair!r}: must be >= 0", exit_code=2)
            changes[key] = int(num) if key in ("min_teardowns", "bootstrap", "seed") else num
        out = replace(self, **changes)
        if not 0 < out.alpha < 1:
            raise UserError(f"--alpha {out.alpha}: must be between 0 and 1", exit_code=2)
        return out


@dataclass
class Row:
    """One metric of one cell pair: the line of the table."""

    variant: str
    cell: str
    metric: str
    base: float | None
    now: float | None
    unit: str  # "%" rates, "ms", "pkts", "pcbs"
    p_raw: float | None = None  # None: deterministic metric or nothing to test
    p_adj: float | None = None
    verdict: str = "same"
    note: str = ""
    test: str = ""  # "fisher", "z", "bootstrap", "tolerance", or "" when nothing was tested

    @property
    def delta(self) -> float | None:
        if self.base is None or self.now is None:
            return None
        return self.now - self.base


@dataclass
class Comparison:
    title: str
    base_label: str
    now_label: str
    thresholds: Thresholds
    rows: list[Row]
    notes: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == "regressed"]

    @property
    def exit_code(self) -> int:
        return 1 if self.regressed else 0

    @property
    def tested(self) -> int:
        return sum(r.p_raw is not None for r in self.rows)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(VERDICTS, 0)
        for r in self.rows:
            out[r.verdict] += 1
        return out


# --- tests -----------------------------------------------------------------------------


def proportion_test(x_base: int, n_base: int, x_now: int, n_now: int) -> tuple[float, str]:
    """Two-sided p-value for equal proportions, and which test gave it."""
    # imported here: scipy.stats and statsmodels cost ~1.3 s, which every CLI start paid
    from scipy.stats import fisher_exact
    from statsmodels.stats.proportion import proportions_ztest

    pooled = (x_base + x_now) / (n_base + n_now)
    expected = min(n * p for n in (n_base, n_now) for p in (pooled, 1 - pooled))
    if expected < 5:
        _, p = fisher_exact([[x_base, n_base - x_base], [x_now, n_now - x_now]])
        return float(p), "fisher"
    _, p = proportions_ztest([x_now, x_base], [n_now, n_base])
    return float(p), "z"


def _rng(th: Thresholds, key: str) -> np.random.Generator:
    # Seeded per (cell, metric), so one test's result does not depend on which others ran.
    return np.random.default_rng([th.seed, zlib.crc32(key.encode())])


def _normal_p(obs: float, null: np.ndarray) -> float:
    centre, se = float(np.mean(null)), float(np.std(null, ddof=1))
    if se == 0 or not math.isfinite(se):
        return 1.0 if obs == centre else 0.0
    return _two_sided(abs(obs - centre) / se)


def _two_sided(z: float) -> float:
    from scipy.stats import norm  # see proportion_test

    return float(2 * norm.sf(z))


def p99(a: np.ndarray) -> np.ndarray:
    """numpy's default (linear) 0.99 quantile along the last axis, via a partial sort.

    np.quantile sorts each resample fully; two order statistics are all a p99 needs, and
    this keeps the bootstrap about 4x faster.
    """
    n = a.shape[-1]
    h = (n - 1) * 0.99
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    part = np.partition(a, [lo, hi], axis=-1)
    return part[..., lo] + (h - lo) * (part[..., hi] - part[..., lo])


def bootstrap_p99(base: np.ndarray, now: np.ndarray, th: Thresholds, key: str) -> float:
    """Bootstrap p-value for log(p99 now / p99 base).

    Each sample is resampled on its own and the two variances add (Wald test with a
    bootstrap SE). Resampling from the pooled sample instead would mix a short and a long
    tail under the alternative and inflate the SE of a tail quantile several-fold.
    """
    eps = 1.0  # ms: keeps the log finite when a p99 is 0 (RST-only teardowns)
    obs = float(np.log(p99(now) + eps) - np.log(p99(base) + eps))
    rng = _rng(th, key)
    var = 0.0
    for sample in (base, now):
        # Chunked so a 10k-sample cell never materialises B x n floats at once.
        per_chunk = max(1, 2_000_000 // len(sample))
        stats = []
        for start in range(0, th.bootstrap, per_chunk):
            b = min(per_chunk, th.bootstrap - start)
            stats.append(np.log(p99(sample[rng.integers(0, len(sample), (b, len(sample)))]) + eps))
        var += float(np.var(np.concatenate(stats), ddof=1))
    se = math.sqrt(var)
    if se == 0:
        return 1.0 if obs == 0 else 0.0
    return _two_sided(abs(obs) / se)


def bootstrap_mean_hist(
    base: dict[int, int], now: dict[int, int], th: Thresholds, key: str
) -> float:
    """Null-bootstrap p-value for the difference of means of two integer histograms.

    Resampling n values with replacement from a histogram is a multinomial draw over its
    bins, so the bootstrap costs B x bins, not B x n.
    """
    values = np.array(sorted(set(base) | set(now)), dtype=float)
    cb = np.array([base.get(int(v), 0) for v in values], dtype=float)
    cn = np.array([now.get(int(v), 0) for v in values], dtype=float)
    nb, nn = int(cb.sum()), int(cn.sum())
    obs = float(cn @ values / nn - cb @ values / nb)
    pooled = (cb + cn) / (nb + nn)
    rng = _rng(th, key)
    mb = rng.multinomial(nb, pooled, size=th.bootstrap) @ values / nb
    mn = rng.multinomial(nn, pooled, size=th.bootstrap) @ values / nn
    return _normal_p(obs, mn - mb)


# --- per-cell rows -------------------------------------------------------------------------


def _rate_row(variant: str, label: str, metric: str, xb: int, nb: int, xn: int, nn: int) -> Row:
    if nb == 0 or nn == 0:
        return Row(
            variant,
            label,
            metric,
            None,
            None,
            "%",
            verdict="not significant",
            note="no connections",
        )
    row = Row(
        variant, label, metric, 100 * xb / nb, 100 * xn / nn, "%", note=f"{xb}/{nb} -> {xn}/{nn}"
    )
    if xb * nn == xn * nb:
        return row  # identical rates (e.g. 0 -> 0): nothing to test, verdict "same"
    row.p_raw, row.test = proportion_test(xb, nb, xn, nn)
    return row


def cell_rows(base: CellStats, now: CellStats, label: str, th: Thresholds) -> list[Row]:
    """All metric rows for one matched cell pair, before the Holm step."""
    v = now.variant
    nb, nn = base.connections, now.connections
    rows = [_rate_row(v, label, "stack fault rate", base.stack_faults, nb, now.stack_faults, nn)]
    rows += [
        _rate_row(
            v,
            label,
            f"close_kind {k}",
            base.close_kinds.get(k, 0),
            nb,
            now.close_kinds.get(k, 0),
            nn,
        )
        for k in FAULT_KINDS
    ]
    rows.append(_rate_row(v, label, "duel rate", base.duels, nb, now.duels, nn))
    if base.after_load_conns is not None and now.after_load_conns is not None:
        rows.append(
            _rate_row(
                v, label, "active after load", base.after_load_conns, nb, now.after_load_conns, nn
            )
        )
    rows.append(_p99_row(base, now, label, th))
    rows.append(_pkts_row(base, now, label, th))
    return rows


def _p99_row(base: CellStats, now: CellStats, label: str, th: Thresholds) -> Row:
    row = Row(
        now.variant,
        label,
        "teardown_ms p99",
        base.teardown_ms_p99,
        now.teardown_ms_p99,
        "ms",
        note=f"n {base.teardown_ms_n} -> {now.teardown_ms_n}",
    )
    if min(len(base.teardown_ms), len(now.teardown_ms)) < th.min_teardowns:
        row.verdict, row.note = "not significant", f"fewer than {th.min_teardowns} teardowns"
        return row
    b, n = np.asarray(base.teardown_ms), np.asarray(now.teardown_ms)
    row.p_raw = bootstrap_p99(b, n, th, f"{label}/p99")
    row.test = "bootstrap"
    return row


def _pkts_row(base: CellStats, now: CellStats, label: str, th: Thresholds) -> Row:
    def mean(h: dict[int, int]) -> float | None:
        total = sum(h.values())
        return sum(k * c for k, c in h.items()) / total if total else None

    row = Row(
        now.variant,
        label,
        "teardown pkts/conn",
        mean(base.teardown_pkts_hist),
        mean(now.teardown_pkts_hist),
        "pkts",
    )
    if row.base is None or row.now is None:
        row.verdict, row.note = "not significant", "no connections"
    elif base.teardown_pkts_hist != now.teardown_pkts_hist or row.base != row.now:
        row.p_raw = bootstrap_mean_hist(
            base.teardown_pkts_hist, now.teardown_pkts_hist, th, f"{label}/pkts"
        )
        row.test = "bootstrap"
    return row


def tolerance_rows(
    base: CellStats, now: CellStats, label: str, th: Thresholds, spread: dict[str, float]
) -> list[Row]:
    """Deterministic figures: beyond tolerance in either direction, else "same"."""
    rows = [_after_load_max_row(base, now, label)]
    specs = (("device peak PCBs", base.peak_pcbs, now.peak_pcbs, "pcbs", th.pcbs_abs, th.pcbs_pct),)
    for metric, b, n, unit, floor, pct in specs:
        row = Row(now.variant, label, metric, _f(b), _f(n), unit, test="tolerance")
        if b is None or n is None:
            row.verdict, row.note = "not significant", "not reported"
            rows.append(row)
            continue
        tol = max(floor, abs(b) * pct / 100, spread.get(metric, 0.0))
        row.note = f"tolerance ±{tol:g}"
        if n - b > tol:
            row.verdict = "regressed"
        elif b - n > tol:
            row.verdict = "improved"
        rows.append(row)
    return rows


def _after_load_max_row(base: CellStats, now: CellStats, label: str) -> Row:
    """Shown, not judged (module docstring): "same" when equal, else "not significant"."""
    b, n = _f(base.after_load_ms_max), _f(now.after_load_ms_max)
    row = Row(now.variant, label, "after-load max", b, n, "ms")
    row.verdict = "same" if b == n else "not significant"
    row.note = "max of one cell's sample: not tested (see active after load, teardown p99)"
    return row


def _f(x: float | int | None) -> float | None:
    return None if x is None else float(x)


def repetition_spread(cells: Iterable[CellStats]) -> dict[tuple[Any, ...], dict[str, float]]:
    """Range of the tolerance-judged figures across a baseline's repetitions of each group.

    Repetitions of a cell are the only measurement of its run-to-run noise; a tolerance
    narrower than that would flag noise.
    """
    by_group: dict[tuple[Any, ...], list[CellStats]] = defaultdict(list)
    for c in cells:
        by_group[c.group].append(c)
    out: dict[tuple[Any, ...], dict[str, float]] = {}
    for group, members in by_group.items():
        spread: dict[str, float] = {}
        for metric, attr in (("device peak PCBs", "peak_pcbs"),):
            vals = [getattr(c, attr) for c in members if getattr(c, attr) is not None]
            spread[metric] = float(max(vals) - min(vals)) if len(vals) > 1 else 0.0
        out[group] = spread
    return out


def holm(p_values: list[float]) -> list[float]:
    """Holm step-down adjusted p-values (reject where adjusted p < alpha)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        # Monotone: an adjusted p is never below the one of a smaller raw p.
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def decide(rows: list[Row], th: Thresholds) -> None:
    """Holm over every tested row, then verdicts from adjusted p and minimum effects."""
    tested = [r for r in rows if r.p_raw is not None]
    for r, p in zip(tested, holm([r.p_raw for r in tested if r.p_raw is not None]), strict=True):
        r.p_adj = p
    for r in tested:
        assert r.p_adj is not None and r.delta is not None
        if r.p_adj >= th.alpha:
            r.verdict = "not significant"
            continue
        worse, better = _beyond_min_effect(r, th)
        if worse:
            r.verdict = "regressed"
        elif better:
            r.verdict = "improved"
        else:
            r.verdict = "same"
            r.note = (r.note + "; " if r.note else "") + "significant, below min effect"


def _beyond_min_effect(r: Row, th: Thresholds) -> tuple[bool, bool]:
    assert r.base is not None and r.now is not None
    b, n = r.base, r.now
    if r.unit == "%":
        return n - b >= th.rate_pp, b - n >= th.rate_pp
    rel, floor = (th.p99_pct, th.p99_ms) if r.unit == "ms" else (th.pkts_pct, th.pkts_abs)
    grow = 1 + rel / 100
    worse = n >= b * grow and n - b >= floor
    better = n * grow <= b and b - n >= floor
    return worse, better


# --- comparisons ----------------------------------------------------------------------------


def compare_pairs(
    pairs: list[tuple[str, CellStats, CellStats]],
    th: Thresholds,
    title: str,
    base_label: str,
    now_label: str,
    spread_from: Iterable[CellStats] | None = None,
) -> Comparison:
    """Rows for every (label, base, now) pair, one Holm family, verdicts."""
    base_cells = list(spread_from if spread_from is not None else [b for _, b, _ in pairs])
    spreads = repetition_spread(base_cells)
    rows: list[Row] = []
    for label, base, now in pairs:
        _check_params(label, base, now)
        rows += cell_rows(base, now, label, th)
        rows += tolerance_rows(base, now, label, th, spreads.get(base.group, {}))
    decide(rows, th)
    notes = [
        f"capture incomplete in {label}"
        for label, b, n in pairs
        if b.capture_complete is False or n.capture_complete is False
    ]
    notes += unstable_repetitions(pairs, base_cells, rows, base_label, now_label)
    return Comparison(title, base_label, now_label, th, rows, notes)


def _check_params(label: str, base: CellStats, now: CellStats) -> None:
    # Different faulty/duel thresholds make different metrics under the same name.
    if base.params and now.params and base.params != now.params:
        keys = sorted(
            k for k in set(base.params) | set(now.params) if base.params.get(k) != now.params.get(k)
        )
        raise UserError(
            f"{label}: analyzer params differ ({', '.join(keys)}); re-analyse both with one "
            f"closebench",
            exit_code=2,
        )


def compare_to_baseline(baseline: Baseline, run_dir: Path, th: Thresholds) -> Comparison:
    """The run in RUN_DIR against a stored baseline, cell by cell id."""
    run = load_run(run_dir)
    # A per-variant baseline against a run of more variants: only its variants are compared.
    variants = {c.variant for c in baseline.cells.values()}
    others = {cid for cid, c in run.cells.items() if c.variant not in variants}
    now_ids = set(run.cells) - others
    _check_matrix(set(baseline.cells), now_ids, f"baseline {baseline.name}", str(run_dir))
    _check_harness(baseline, run.manifest)
    _check_builds(baseline, run.manifest)
    pairs = [(cid, baseline.cells[cid], run.cells[cid]) for cid in sorted(now_ids)]
    comp = compare_pairs(
        pairs,
        th,
        f"{run.manifest.get('run_id', run.path.name)} vs baseline {baseline.name}",
        f"baseline {baseline.name}",
        str(run.manifest.get("run_id", run.path.name)),
        spread_from=baseline.cells.values(),
    )
    comp.notes = _release_notes(baseline.doc, run.manifest) + _host_notes(run.manifest) + comp.notes
    if others:
        comp.notes.append(f"{len(others)} cells of other variants in the run are not compared")
    return comp


def _check_harness(baseline: Baseline, manifest: dict[str, Any]) -> None:
    stored, current = baseline.doc["harness"], harness_of(manifest)
    for key in ("schema_version", "backend", "run_time_s", "cooldown_s"):
        if stored.get(key) != current.get(key):
            raise UserError(
                f"baseline {baseline.name}: {key} {stored.get(key)!r} vs the run's "
                f"{current.get(key)!r}; refusing to compare across harnesses",
                exit_code=2,
            )
    # Older baselines carry no machines; a run's cells on another architecture are refused.
    if stored.get("machines") and stored["machines"] != current.get("machines"):
        raise UserError(
            f"baseline {baseline.name}: measured on {', '.join(stored['machines'])}, the run on "
            f"{', '.join(current.get('machines') or ['?'])}; refusing to compare across hosts",
            exit_code=2,
        )
    # Same name, different content: the load or the link changed under the same label.
    for key in ("profiles", "links"):
        old, new = stored.get(key) or {}, current.get(key) or {}
        for name in sorted(set(old) & set(new)):
            if old[name] != new[name]:
                raise UserError(
                    f"baseline {baseline.name}: {key[:-1]} {name!r} is defined differently "
                    f"in the run; refusing to compare across harnesses",
                    exit_code=2,
                )


def _check_builds(baseline: Baseline, manifest: dict[str, Any]) -> None:
    """The firmware's own source and the approximation are different stacks: never compared."""
    stored, current = (
        by_name(baseline.doc["variants"]),
        by_name(manifest.get("variants")),
    )
    for name in sorted(set(stored) & set(current)):
        was, now = stored[name], current[name]
        if bool(was.get("exact_source")) != bool(now.get("exact_source")):
            raise UserError(
                f"baseline {baseline.name}: {name} was measured on {was.get('source')}, the "
                f"run on {now.get('source')}; refusing to compare two different stacks",
                exit_code=2,
            )
        # a baseline from before [[apps]] (issue 26) served the bench's page, now "http11"
        was_app = (was.get("app") or {}).get("name") or ("http11" if now.get("apps") else None)
        now_app = (now.get("app") or {}).get("name")
        if was_app != now_app:
            raise UserError(
                f"baseline {baseline.name}: {name} served the app {was_app!r}, the run "
                f"{now_app!r} (--app); refusing to compare two different apps",
                exit_code=2,
            )
        if was.get("device_speed", "host") != now.get("device_speed", "host"):
            raise UserError(
                f"baseline {baseline.name}: {name} ran at device speed "
                f"{was.get('device_speed', 'host')!r}, the run at "
                f"{now.get('device_speed', 'host')!r} (--device-speed); refusing to compare",
                exit_code=2,
            )
        _check_timing(baseline, name, was, now)


def _timing_key(record: dict[str, Any]) -> tuple[Any, ...]:
    timing = record.get("timing") or {}
    return (timing.get("costs_us"), timing.get("tick_ms"), timing.get("queue"))


def _check_timing(baseline: Baseline, name: str, was: dict[str, Any], now: dict[str, Any]) -> None:
    """A modelled chip whose [timing] figures changed is another device: never compared."""
    if now.get("device_speed", "host") == "host" or _timing_key(was) == _timing_key(now):
        return
    raise UserError(
        f"baseline {baseline.name}: {name} ran on a chip model with other [timing] figures "
        f"(baseline {_timing_key(was)[0]}, run {_timing_key(now)[0]}); the chip's speed model "
        f"changed, so re-record the baseline (closebench baseline); refusing to compare",
        exit_code=2,
    )


def _host_notes(manifest: dict[str, Any]) -> list[str]:
    """A run measured on several hosts says so next to its verdicts."""
    hosts = sorted({str(h.get("hostname")) for h in (manifest.get("workers") or {}).values()})
    return [f"cells measured on {len(hosts)} hosts: {', '.join(hosts)}"] if len(hosts) > 1 else []


def _check_matrix(base_ids: set[str], now_ids: set[str], base_name: str, now_name: str) -> None:
    only_base, only_now = sorted(base_ids - now_ids), sorted(now_ids - base_ids)
    if only_base or only_now:
        parts = []
        if only_base:
            parts.append(f"{len(only_base)} cell(s) only in {base_name} (e.g. {only_base[0]})")
        if only_now:
            parts.append(f"{len(only_now)} cell(s) only in {now_name} (e.g. {only_now[0]})")
        raise UserError(f"different matrix: {'; '.join(parts)}", exit_code=2)


def _release_notes(doc: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    """What changed between baseline and run besides the measurement: the release axis."""
    notes = []
    b_suite, n_suite = doc.get("suite") or {}, manifest.get("suite") or {}
    if b_suite.get("version") != n_suite.get("version"):
        notes.append(f"suite {b_suite.get('version')} -> {n_suite.get('version')}")
    b_var, n_var = by_name(doc.get("variants")), by_name(manifest.get("variants"))
    for name in sorted(set(b_var) & set(n_var)):
        if b_var[name] != n_var[name]:
            keys = sorted(
                k
                for k in set(b_var[name]) | set(n_var[name])
                if b_var[name].get(k) != n_var[name].get(k)
            )
            notes.append(f"variant {name} changed: {', '.join(keys)}")
    return notes


def parse_side(spec: str) -> tuple[str, str | None]:
    """`VARIANT` or `VARIANT@lwipVER` (one variant on two lwIP releases)."""
    name, _, lwip = spec.partition("@")
    if not name:
        raise UserError(f"--pair side {spec!r}: expected VARIANT or VARIANT@lwipVER", exit_code=2)
    return name, (lwip.removeprefix("lwip") or None) if lwip else None


def compare_variants(run_dir: Path, a: str, b: str, th: Thresholds | None = None) -> Comparison:
    """Variant A (the older release, as baseline) against variant B within one run.

    Cells are matched by profile, link, repetition (and lwIP unless a side pins it), so
    both sides saw the same load and the same seeded link.
    """
    th = th or Thresholds()
    run = load_run(run_dir)
    (va, la), (vb, lb) = parse_side(a), parse_side(b)

    def side(variant: str, lwip: str | None) -> dict[tuple[Any, ...], CellStats]:
        out = {}
        for c in run.cells.values():
            if c.variant == variant and (lwip is None or c.lwip == lwip):
                key = (c.profile, c.link, c.repetition) + (() if lwip else (c.lwip,))
                out[key] = c
        if not out:
            raise UserError(
                f"{run_dir}: no cells for {variant}{'@lwip' + lwip if lwip else ''}", exit_code=2
            )
        return out

    cells_a, cells_b = side(va, la), side(vb, lb)
    _check_matrix({_key(k) for k in cells_a}, {_key(k) for k in cells_b}, a, b)
    pairs = [
        (f"{cells_a[k].cell_id} vs {cells_b[k].cell_id}", cells_a[k], cells_b[k])
        for k in sorted(cells_a, key=_key)
    ]
    run_id = str(run.manifest.get("run_id", run.path.name))
    return compare_pairs(pairs, th, f"{b} vs {a} in {run_id}", a, b, spread_from=cells_a.values())


def _key(k: tuple[Any, ...]) -> str:
    return "__".join(f"r{x}" if isinstance(x, int) else str(x) for x in k)
