"""`--source-ref`, `--repo-dir`, `--releases`: a variant's stack at other commits of its source."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from closebench.errors import UserError
from closebench.variants.manifest import Variant, load_variants


def add_ref_flags(parser: argparse.ArgumentParser, *, releases: bool) -> None:
    parser.add_argument(
        "--source-ref",
        action="append",
        default=[],
        metavar="REF",
        help="build the variant's own stack from another commit, tag or release of its "
        "source (repeat for several: each ref is its own stack, named VARIANT~REF); for a "
        "stack of several repositories, owner/repo=REF[,owner/repo=REF]",
    )
    parser.add_argument(
        "--repo-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a local clone or mirror (DIR or owner/repo=DIR) to resolve refs and make the "
        "source archives of unpinned commits from",
    )
    if releases:
        parser.add_argument(
            "--releases",
            metavar="VARIANT[,VARIANT]",
            help="run the releases listed in firmware_variants/VARIANT/releases.toml side by "
            "side (the report draws fault rates over their dates)",
        )


def chosen_variants(
    args: argparse.Namespace, names: list[str] | None, log: Callable[[str], None] = print
) -> list[Variant] | None:
    """The variants to run when refs or releases are asked for, else None (load by name)."""
    from closebench.bench import source_ref

    releases = [n for n in (getattr(args, "releases", None) or "").split(",") if n]
    if not args.source_ref and not releases:
        if args.repo_dir:
            log("--repo-dir is only read with --source-ref, --releases or bisect")
        return None
    if args.source_ref and not names:
        raise UserError("--source-ref needs --variants (the variants to build at the ref)")
    # --releases alone runs the releases only; with --variants those run beside them
    base = load_variants(names) if names or not releases else []
    out = source_ref.expand(base, args.source_ref, args.repo_dir, log)
    for name in releases:
        (variant,) = load_variants([name])
        for moved in source_ref.release_variants(variant, args.repo_dir, log):
            if moved.name not in {v.name for v in out}:
                out.append(moved)
    return out
