"""`closebench sources list|fetch|hash`: the firmware source archives exact-source builds use."""

from __future__ import annotations

import argparse
from pathlib import Path

from closebench.bench import exact_source
from closebench.bench.variant_build import archives_of
from closebench.errors import UserError
from closebench.variants.manifest import Variant, load_variants


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sources",
        help="firmware source archives for exact-source builds",
        description="The firmware source archives exact-source builds compile from: list "
        "them, fetch the missing ones, or hash one for a new [source] table.",
    )
    ssub = p.add_subparsers(dest="sources_command", metavar="ACTION", required=True)
    ls = ssub.add_parser(
        "list",
        help="each variant's archives, where they are looked for, which are here",
        description="List each variant's source archives, where they are looked for and "
        "which are present.",
    )
    ls.add_argument("--variants", help="comma list (default: all)")
    ls.set_defaults(func=cmd_list)
    fetch = ssub.add_parser(
        "fetch",
        help="download the missing archives by commit (needs access to GitHub)",
        description="Download the missing source archives by commit and check their hashes "
        "(needs access to GitHub).",
    )
    fetch.add_argument("--variants", help="comma list (default: all)")
    fetch.set_defaults(func=cmd_fetch)
    digest = ssub.add_parser(
        "hash",
        help="print an archive's content hash over the given paths (for a new [source])",
        description="Print an archive's content hash over the given paths, for the sha256 "
        "of a new variant.toml [source] table.",
    )
    digest.add_argument("archive", type=Path, help="a .tar.gz with one top folder")
    digest.add_argument("--paths", required=True, help="comma list of paths below the top folder")
    digest.set_defaults(func=cmd_hash)


def _chosen(text: str | None) -> list[Variant]:
    names = [n for n in text.split(",") if n] if text else None
    return [v for v in load_variants(names) if v.source is not None]


def cmd_list(args: argparse.Namespace) -> int:
    print("looked for in: " + ", ".join(str(d) for d in exact_source.sources_dirs()))
    for variant in _chosen(args.variants):
        assert variant.source is not None
        print(f"{variant.name} ({variant.source.family}):")
        for archive in archives_of(variant.source):
            found = exact_source.find_archive(archive)
            print(f"  {'present' if found else 'MISSING'}  {archive.filename}")
            if not found:  # the whole story per archive: where, and the ways to get it
                print(f"    {exact_source.missing_hint(archive)}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    failed = 0
    for variant in _chosen(args.variants):
        assert variant.source is not None
        for archive in exact_source.missing(archives_of(variant.source)):
            try:
                print(f"{variant.name}: {exact_source.download(archive)}")
            except UserError as exc:
                print(f"{variant.name}: {exc}")
                failed += 1
    return 1 if failed else 0


def cmd_hash(args: argparse.Namespace) -> int:
    paths = [p for p in args.paths.split(",") if p]
    digest, count = exact_source.archive_tree_sha256(args.archive, paths)
    if count == 0:
        raise UserError(f"{args.archive}: none of {', '.join(paths)} inside")
    print(f"{digest}  ({count} files under {', '.join(paths)})")
    return 0
