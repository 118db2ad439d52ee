"""`closebench regress` and `closebench baseline save`: release regression checks.

Exit codes: 0 nothing regressed, 1 at least one metric regressed, 2 unusable input.
"""

from __future__ import annotations

import argparse
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from closebench.errors import UserError
from closebench.regress.baseline import (
    Baseline,
    by_name,
    load_baseline,
    save_baseline,
)
from closebench.regress.compare import (
    Comparison,
    Row,
    Thresholds,
    compare_to_baseline,
    compare_variants,
)
from closebench.variants.heap import Heap
from closebench.variants.manifest import Variant

VERDICT_STYLE = {
    "regressed": "bold red",
    "improved": "green",
    "not significant": "yellow",
    "same": "dim",
}


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "regress",
        help="compare a run with a stored baseline (or two variants of one run); exit 1 on "
        "a significant regression",
        description="Compare a run with a stored baseline, or two variants within one run "
        "(--pair), metric by metric with Holm-corrected tests and minimum effects. Exit 0 "
        "when nothing regressed, 1 on a significant regression, 2 on unusable input.",
    )
    r.add_argument("--baseline", metavar="NAME", help="results/baselines/NAME.json (or a path)")
    r.add_argument(
        "--run",
        type=Path,
        metavar="RUN_DIR",
        help="complete run directory (default: run the baseline's matrix now)",
    )
    r.add_argument(
        "--pair",
        metavar="A:B",
        help="compare variant B against variant A within "
        "--run, e.g. nodemcu-2016:nodemcu-3.0 or nodemcu-3.0@lwip2.1.3:"
        "nodemcu-3.0@lwip2.2.1",
    )
    r.add_argument(
        "--alpha",
        type=float,
        default=Thresholds.alpha,
        help="family-wise significance level, Holm-corrected over all tested "
        "metrics (default %(default)s)",
    )
    r.add_argument(
        "--min-effect",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a minimum effect/tolerance, repeatable; defaults: " + _threshold_defaults(),
    )
    r.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table here")
    r.add_argument(
        "--all",
        action="store_true",
        help="also show rows whose values are identical (e.g. 0 %% -> 0 %%)",
    )
    r.set_defaults(func=cmd_regress)

    b = sub.add_parser(
        "baseline",
        help="manage stored baselines (results/baselines/)",
        description="Manage the stored baselines `regress` compares against "
        "(results/baselines/NAME.json).",
    )
    bsub = b.add_subparsers(dest="baseline_command", metavar="ACTION")
    s = bsub.add_parser(
        "save",
        help="store a complete run's per-cell statistics as NAME",
        description="Store a complete run's per-cell statistics as "
        "results/baselines/NAME.json, to compare later runs against with `regress`.",
    )
    s.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a complete run directory")
    s.add_argument("name", metavar="NAME", help="baseline name (file results/baselines/NAME.json)")
    s.add_argument("--force", action="store_true", help="replace an existing baseline")
    s.add_argument(
        "--variant",
        metavar="VARIANT",
        help="keep only this variant's cells (results/baselines/<variant>.json are made so)",
    )
    s.set_defaults(func=cmd_baseline_save)
    b.set_defaults(func=lambda _args: _usage("closebench baseline save RUN_DIR NAME [--force]"))


def _threshold_defaults() -> str:
    """The --min-effect keys with the defaults Thresholds really uses (never a copy)."""
    defaults = Thresholds()
    return ", ".join(
        f"{f.name}={_number(getattr(defaults, f.name))}"
        for f in fields(Thresholds)
        if f.name != "alpha"
    )


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _usage(text: str) -> int:
    raise UserError(f"usage: {text}", exit_code=2)


def cmd_baseline_save(args: argparse.Namespace) -> int:
    target = save_baseline(args.run_dir, args.name, force=args.force, variant=args.variant)
    Console(stderr=True).print(f"baseline saved: {target}")
    return 0


def cmd_regress(args: argparse.Namespace) -> int:
    th = Thresholds(alpha=args.alpha).with_overrides(args.min_effect)
    if args.pair:
        if args.baseline or not args.run:
            raise UserError("--pair A:B needs --run RUN_DIR and no --baseline", exit_code=2)
        a, sep, b = args.pair.partition(":")
        if not sep or not a or not b:
            raise UserError(f"--pair {args.pair!r}: expected VARIANT_A:VARIANT_B", exit_code=2)
        comp = compare_variants(args.run, a, b, th)
        _print_bugs_brought_back(args.run, a, b)
    else:
        if not args.baseline:
            raise UserError("regress needs --baseline NAME (or --run RUN --pair A:B)", exit_code=2)
        baseline = load_baseline(args.baseline)
        run_dir = args.run or _run_baseline_matrix(baseline)
        comp = compare_to_baseline(baseline, run_dir, th)
    print_comparison(comp, Console(), show_all=args.all)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(to_markdown(comp))
    return comp.exit_code


def _print_bugs_brought_back(run_dir: Path, base: str, now: str) -> None:
    """Catalogued bugs (benchmarks/bugs/) the run's verify probes show in NOW, not in BASE."""
    from closebench.bugs.from_run import pair_lines

    for line in pair_lines(run_dir, base, now):
        print(f"known bug brought back in {now}: {line}")


def _run_baseline_matrix(baseline: Baseline) -> Path:
    """Measure the baseline's matrix again, with the same run and cooldown times."""
    from closebench.pipeline import runner  # lazy: pulls in the whole bench

    m: dict[str, Any] = baseline.doc["matrix"]
    harness: dict[str, Any] = baseline.doc["harness"]
    try:
        axes = (
            list(m["variants"]),
            list(m["profiles"]),
            list(m["links"]),
            int(m["repetitions"]),
            m.get("lwip"),
        )
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{baseline.path}: matrix is incomplete; pass --run", exit_code=2) from None
    # Pin the times so the harness matches; build each stack and run it at the device speed
    # (the chip's model or the host's) as the baseline did.
    entries = by_name(baseline.doc["variants"])
    # a baseline from before the device model has no device_speed: it ran at host speed
    speeds = {name: entries.get(name, {}).get("device_speed") or "host" for name in axes[0]}
    # the app each variant served; a baseline from before [[apps]] served the bench's page
    apps = {
        name: (entries.get(name, {}).get("app") or {}).get("name") or LEGACY_APP
        for name in axes[0]
        if entries.get(name, {}).get("kind") == "lwip" and _names_apps(name)
    }
    matrix = runner.make_matrix(
        *axes,
        False,
        harness.get("run_time_s"),
        harness.get("cooldown_s"),
        source_mode=baseline_source_mode(baseline),
        device_speed=speeds,
        app=apps,
    )
    pinned = [on_baseline_chip(v, entries.get(v.name, {})) for v in matrix.variants]
    return Path(runner.run_matrix(replace(matrix, variants=pinned), kind="regress"))


def on_baseline_chip(variant: Variant, entry: dict[str, Any]) -> Variant:
    """The variant on the chip model its baseline ran on: the baseline's [timing] costs and
    heap budget (none before the heap was modelled). A re-measured chip model or heap figure
    is a change of the bench, not of the firmware, so regress keeps it out of the comparison."""
    if variant.kind != "lwip":
        return variant
    timing = entry.get("timing")
    if variant.timing is not None and isinstance(timing, dict) and timing.get("costs_us"):
        costs = {ev: (int(c["stack"]), int(c["app"])) for ev, c in timing["costs_us"].items()}
        variant = replace(
            variant,
            # the recorded costs are already those of the baseline's speed: no band on top
            timing=replace(
                variant.timing,
                costs=costs,
                tick_ms=int(timing["tick_ms"]),
                queue=int(timing["queue"]),
                figures={},
            ),
        )
    heap = entry.get("heap")
    budget = Heap(int(heap["free_bytes"]), None, "", str(heap.get("note", ""))) if heap else None
    return replace(variant, heap=budget)


# The app every variant served before variants named their apps (issue 26): the bench's page.
LEGACY_APP = "http11"


def _names_apps(name: str) -> bool:
    """Whether the variant's folder names apps ([[apps]]); a ref or app suffix is not part of it."""
    from closebench.variants.apps import APP_SEP
    from closebench.variants.manifest import REF_SEP, load_variant

    try:
        return bool(load_variant(name.split(REF_SEP)[0].split(APP_SEP)[0]).apps)
    except UserError:
        return False


def baseline_source_mode(baseline: Baseline) -> str:
    """`exact` when the baseline ran every lwIP variant on its own source, `approximation`
    when it ran none so; a missing archive is named before anything runs."""
    from closebench.bench import exact_source
    from closebench.bench.variant_build import archives_of
    from closebench.variants.manifest import load_variants

    entries = by_name(baseline.doc.get("variants"))
    lwip = {n: e for n, e in entries.items() if e.get("kind") == "lwip"}
    exact = sorted(n for n, e in lwip.items() if e.get("exact_source"))
    if not exact:
        return "approximation"
    if len(exact) < len(lwip):
        return "auto"  # mixed: the comparison refuses any variant whose build differs
    for variant in load_variants(exact):
        missing = exact_source.missing(archives_of(variant.source)) if variant.source else []
        if missing:
            raise UserError(
                f"baseline {baseline.name}: {variant.name} was measured on its exact source; "
                f"{exact_source.missing_hint(missing[0])}{_approximation_hint(baseline)}",
                exit_code=2,
            )
    return "exact"


def _approximation_hint(baseline: Baseline) -> str:
    other = baseline.path.with_name(f"{baseline.path.stem}.approximation.json")
    if other.exists():
        return f"; or compare the approximation: --baseline {other.stem}"
    return ""


# --- rendering ---------------------------------------------------------------------------


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "%":
        return f"{value:.2f} %"
    if unit == "pcbs":
        return f"{value:g}"
    return f"{value:.1f} ms" if unit == "ms" else f"{value:.2f}"


def _delta(row: Row) -> str:
    d = row.delta
    if d is None:
        return "-"
    if row.unit == "%":
        return f"{d:+.2f} pp"
    text = f"{d:+g}" if row.unit == "pcbs" else f"{d:+.1f}" if row.unit == "ms" else f"{d:+.2f}"
    if row.base:
        text += f" ({100 * d / row.base:+.0f} %)"
    return text


def _p(row: Row) -> str:
    if row.test == "tolerance":
        return "n/a (tolerance)"
    if row.p_adj is None:
        return "-"
    return f"{row.p_adj:.2g}" if row.p_adj < 0.001 else f"{row.p_adj:.3f}"


def _visible(comp: Comparison, show_all: bool) -> list[Row]:
    # Identical values (0 -> 0 faults) say nothing; every other verdict, including
    # "not significant", is always printed.
    return [r for r in comp.rows if show_all or r.verdict != "same" or r.base != r.now]


def _header(comp: Comparison) -> list[str]:
    th = comp.thresholds
    c = comp.counts()
    return [
        f"{comp.now_label} vs {comp.base_label}",
        f"alpha {th.alpha:g}, Holm over {comp.tested} tested metrics; min effects: rates "
        f"+{th.rate_pp:g} pp, p99 +{th.p99_pct:g} % and +{th.p99_ms:g} ms, teardown pkts "
        f"+{th.pkts_pct:g} % and +{th.pkts_abs:g}; tolerances: peak PCBs "
        f"max({th.pcbs_abs:g}, {th.pcbs_pct:g} %) or the baseline's repetition spread; "
        f"after-load max shown, not tested",
        f"regressed {c['regressed']}, improved {c['improved']}, not significant "
        f"{c['not significant']}, same {c['same']}",
    ]


COLUMNS = ("cell", "metric", "baseline", "now", "delta", "p (Holm)", "verdict", "note")


def _cells(r: Row, verdict: str) -> list[str]:
    """One table row as text, in COLUMNS order; the verdict as each renderer marks it."""
    return [r.cell, r.metric, _num(r.base, r.unit), _num(r.now, r.unit), _delta(r), _p(r),
            verdict, r.note]  # fmt: skip


def print_comparison(comp: Comparison, console: Console, show_all: bool = False) -> None:
    table = Table(title=comp.title, title_justify="left")
    for col in COLUMNS:
        # Cell ids are long; fold them rather than cut them, they name the folder to open.
        table.add_column(col, no_wrap=col in ("metric", "verdict"), overflow="fold")
    for r in _visible(comp, show_all):
        table.add_row(*_cells(r, f"[{VERDICT_STYLE[r.verdict]}]{r.verdict}[/]"))
    console.print(table)
    for line in _header(comp)[1:] + [f"note: {n}" for n in comp.notes]:
        console.print(line)
    verdict = "REGRESSED: " + ", ".join(sorted({f"{r.cell}: {r.metric}" for r in comp.regressed}))
    console.print(f"[bold red]{verdict}[/]" if comp.regressed else "[green]no regression[/]")


def to_markdown(comp: Comparison) -> str:
    head = _header(comp)
    lines = [f"# {comp.title}", "", *[f"- {h}" for h in head[1:]]]
    lines += [f"- note: {n}" for n in comp.notes]
    lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in comp.rows:
        cells = _cells(r, f"**{r.verdict}**" if r.verdict == "regressed" else r.verdict)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", f"**{'regressed' if comp.regressed else 'no regression'}**", ""]
    return "\n".join(lines)
