"""The device a variant runs: its firmware's own stack source where present, else the approximation.

`auto` builds the exact source when every archive of the variant's `[source]` is present and
falls back to the approximation (upstream lwIP from Debian with the firmware's options),
saying so in one line per variant (the caller adds one hint, SOURCES_HINT, for all of them).
`exact` refuses to fall back; `approximation`
never tries. The release axis (`--lwip`) is defined on Debian's lwIP, so it is always an
approximation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from closebench.bench import exact, exact_source
from closebench.bench.device_build import DeviceBuild, _sources_digest, build_device
from closebench.bench.lwip_source import file_lock
from closebench.errors import UserError
from closebench.paths import cache_dir, device_source_dir
from closebench.schema import write_json
from closebench.variants.manifest import Source, Variant

SourceMode = Literal["auto", "exact", "approximation"]
SOURCE_MODES: tuple[SourceMode, ...] = ("auto", "exact", "approximation")
LINK_ONLY_LWIP = "2.1.3"  # the Linux reference borrows cbdev only as its link
SOURCE_UNAVAILABLE = "source unavailable"  # the fallback's reason in the run's records
# Said once after the per-variant lines of a first run without archives (the full
# per-archive text is in `closebench sources list` and in --exact's error).
SOURCES_HINT = (
    "exact source needs firmware source archives that are not here: "
    "`closebench sources list` says which, and how to get them"
)


def archives_of(source: Source) -> list[exact_source.Archive]:
    # an unpinned archive (--source-ref) has its hash filled in by resolve() before unpacking
    return [
        exact_source.Archive(a.repo, a.commit, a.paths, a.tree_sha256 or "")
        for a in source.archives
    ]


def exact_key(source: Source, options: dict[str, object], module_digest: str) -> str:
    payload = json.dumps(
        {
            "family": source.family,
            "trees": [a.tree_sha256 for a in source.archives],
            "options": options,
            "module": module_digest,
            "device": _sources_digest(device_source_dir()),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def build_exact(variant: Variant, log: Callable[[str], None] = print) -> DeviceBuild:
    """Compile the variant's own stack (cached); SourceUnavailable when an archive is missing."""
    source = variant.source
    if source is None:
        raise UserError(f"{variant.manifest_file}: no [source] table; no exact-source build")
    build, module_digest = exact.builder_for(source.family)
    trees = exact_source.unpack_all(archives_of(source))
    options = dict(variant.emulation.options)
    key = exact_key(source, options, module_digest)
    build_dir = cache_dir() / "builds" / f"exact-{key}"
    record_path = build_dir / "build.json"
    with file_lock(build_dir / ".lock"):
        if record_path.is_file():
            record = json.loads(record_path.read_text())
            if Path(record["path"]).is_file():
                log(f"cbdev up to date ({variant.name}, exact source): {record['path']}")
                return DeviceBuild(**(record | {"path": Path(record["path"])}))
        work = build_dir / "work"
        work.mkdir(parents=True, exist_ok=True)
        log(f"building {variant.name} from its own source ({source.label}) in {build_dir}")
        binary = build(trees, work, options, log)
        result = DeviceBuild(
            path=binary,
            key=key,
            lwip_version=None,
            debian_version=None,
            tarball_sha256=None,
            options=options,
            exact=True,
            source=source.label,
        )
        write_json(record_path, asdict(result) | {"path": str(binary)}, indent=2)
    return result


def _approximation(variant: Variant, why: str, log: Callable[[str], None]) -> DeviceBuild:
    emu = variant.emulation
    build = build_device(emu.lwip or LINK_ONLY_LWIP, emu.options, log=log)
    return DeviceBuild(**(asdict(build) | {"path": build.path, "source": why}))


def resolve(
    variant: Variant, mode: SourceMode = "auto", log: Callable[[str], None] = print
) -> tuple[Variant, DeviceBuild]:
    """The variant as it will run (marked exact or not) and its device build."""
    if variant.kind != "lwip":
        return variant, build_device(LINK_ONLY_LWIP, {}, log=log)
    if variant.source_ref is not None:
        return _resolve_ref(variant, mode, log)
    if mode == "approximation":
        return variant, _approximation(variant, "approximation chosen", log)
    why = _no_exact_reason(variant)
    if why is None:
        try:
            return variant.as_exact(), build_exact(variant, log)
        except exact_source.SourceUnavailable as exc:
            why = SOURCE_UNAVAILABLE
            if mode == "exact":
                raise UserError(f"{variant.name}: {exc}") from None
            # one line here; which archives, and how to get them: SOURCES_HINT, once per run
            log(
                f"{variant.name}: approximation on lwIP {variant.emulation.lwip} "
                "(source archives missing)"
            )
    if mode == "exact":
        raise UserError(f"{variant.name}: no exact-source build ({why})")
    return variant, _approximation(variant, why, log)


def sources_missing(builds: list[DeviceBuild]) -> bool:
    """Did any of these builds fall back to the approximation for want of archives?"""
    return any(not b.exact and b.source == SOURCE_UNAVAILABLE for b in builds)


def _resolve_ref(
    variant: Variant, mode: SourceMode, log: Callable[[str], None]
) -> tuple[Variant, DeviceBuild]:
    """Another commit of the source: only its own source, never the approximation (which
    knows nothing of that commit)."""
    from closebench.bench.source_ref import pin_on_first_use

    if mode == "approximation":
        raise UserError(f"{variant.name}: a source ref builds the firmware's own source only")
    assert variant.source is not None
    if variant.source.family not in exact.families():
        raise UserError(f"{variant.name}: no builder for source family {variant.source.family!r}")
    try:
        pinned = pin_on_first_use(variant, log)
    except exact_source.SourceUnavailable as exc:
        raise UserError(f"{variant.name}: {exc}") from None
    return pinned.as_exact(), build_exact(pinned, log)


def _no_exact_reason(variant: Variant) -> str | None:
    """Why this variant cannot be built from its own source at all, or None."""
    if variant.source is None:
        return "no [source] in its manifest"
    if variant.emulation.lwip != variant.emulation.manifest_lwip:
        return f"release axis: lwIP {variant.emulation.lwip}"
    if variant.source.family not in exact.families():
        return f"no builder for source family {variant.source.family!r}"
    return None


def planned_provenance(variant: Variant, mode: SourceMode = "auto") -> str:
    """What a run would use, without building: the words `variants` and the report show."""
    if variant.kind != "lwip":
        return "the Linux kernel"
    approx = f"approximation on lwIP {variant.emulation.lwip}"
    if mode == "approximation":
        return f"{approx} (approximation chosen)"
    why = _no_exact_reason(variant)
    if why is None:
        assert variant.source is not None
        if not exact_source.missing(archives_of(variant.source)):
            return f"exact source ({variant.source.label})"
        why = SOURCE_UNAVAILABLE
    return f"{approx} ({why})"
