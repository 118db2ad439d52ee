"""`closebench probe`: fingerprint variants' close handling with scripted raw-TCP probes."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from closebench import paths
from closebench.commands.ref_flags import add_ref_flags, chosen_variants
from closebench.commands.source_flags import add_source_flags
from closebench.commands.speed_flags import add_speed_flag
from closebench.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "probe",
        help="close-handling probes (fingerprint) against variants",
        description="Run the close-handling probes (crafted packet exchanges) against each "
        "variant's device program and print measured vs expected per behaviour; exit "
        "non-zero when a probe contradicts the variant's manifest.",
    )
    p.add_argument(
        "--variant", action="append", required=True, help="variant name (repeat for several)"
    )
    p.add_argument("--probes", help="comma-separated probe names (default: all)")
    p.add_argument("--lwip", help="build on this lwIP release instead of the variant's own")
    p.add_argument("--out", type=Path, help="output folder (default results/probes-<time>)")
    p.add_argument("--jobs", type=int, default=4, help="probes run in parallel (default 4)")
    p.add_argument(
        "--max-observe",
        type=float,
        default=70.0,
        help="longest a timer is watched, s; longer ones give lower bounds (default %(default)s)",
    )
    add_source_flags(p)
    # probes time the stack's own timers; the chip's speed only adds queueing: host by default
    add_speed_flag(p, default="host")
    add_ref_flags(p, releases=False)
    p.add_argument("--list", action="store_true", help="list the probes and exit")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from closebench.probes import catalog, failures, run_probes
    from closebench.variants.manifest import load_variant

    if args.list:
        for name in catalog.probe_names():
            doc = (catalog.load_probe(name).__doc__ or "").strip().splitlines()
            print(f"{name}: {doc[0].split(': ', 1)[-1] if doc else ''}")
        return 0
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    names = catalog.parse_list(args.probes)
    variants = chosen_variants(args, list(args.variant)) or [load_variant(v) for v in args.variant]
    if args.lwip:
        variants = [v.with_lwip(args.lwip) if v.kind == "lwip" else v for v in variants]
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = args.out or paths.results_dir() / f"probes-{stamp}"
    code = 0
    for variant in variants:
        data = run_probes(
            variant,
            names,
            out,
            jobs=args.jobs,
            max_observe_s=args.max_observe,
            source_mode="approximation" if args.lwip else args.source_mode,
            device_speed=args.device_speed,
        )
        bad = failures(data)
        verdict = "matches its manifest" if not bad else f"{len(bad)} contradiction(s)"
        where = out / (variant.label + ".json")
        print(f"{variant.label} ({data['source'] or 'kernel'}): {verdict}; {where}")
        for line in bad:
            print(f"  {line}")
        code = code or (1 if bad else 0)
    return code
