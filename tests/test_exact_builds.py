"""Each lwIP variant built from its firmware's own stack source, then probed against its manifest.

Needs the source archives (`closebench sources list` says which; see docs/exact-source.md):
where one is missing the variant's test skips naming it. The probes are the same ones `compare`
runs before measuring; here every [expect] must hold with no known-difference excuse beyond
what the [source] table lists.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import bench_unavailable, leftovers

from closebench.bench import exact, exact_source
from closebench.bench.variant_build import archives_of, resolve
from closebench.probes import failures, run_probes
from closebench.variants.manifest import Variant, load_variants

EXACT = [v for v in load_variants() if v.source is not None]
MAX_OBSERVE_S = 70.0


def test_every_declared_family_has_a_builder() -> None:
    known = exact.families()
    for variant in EXACT:
        assert variant.source is not None
        assert variant.source.family in known, f"{variant.name}: {variant.source.family}"


@pytest.mark.parametrize("variant", EXACT, ids=lambda v: v.name)
def test_present_archives_match_their_manifest_hash(variant: Variant) -> None:
    reason = _archives_missing(variant)
    if reason:
        pytest.skip(reason)
    assert variant.source is not None
    for archive in archives_of(variant.source):
        path = exact_source.find_archive(archive)
        assert path is not None
        exact_source.verify_archive(archive, path)  # raises on a mismatch


def _archives_missing(variant: Variant) -> str | None:
    assert variant.source is not None
    gone = exact_source.missing(archives_of(variant.source))
    if gone:
        return f"source archive {gone[0].filename} not present (see `closebench sources list`)"
    return None


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exact-probes")


@pytest.mark.netns
@pytest.mark.slow
@pytest.mark.parametrize("variant", EXACT, ids=lambda v: v.name)
def test_exact_build_matches_its_manifest(variant: Variant, out_dir: Path) -> None:
    reason = _archives_missing(variant) or bench_unavailable()
    if reason:
        pytest.skip(reason)
    running, build = resolve(variant, "exact", log=lambda _m: None)
    assert build.exact and running.exact
    assert build.provenance == f"exact source ({variant.source.label})"
    quiet = {"log": lambda _m: None, "max_observe_s": MAX_OBSERVE_S}
    data = run_probes(variant, None, out_dir, source_mode="exact", **quiet)
    assert data["source"] == build.provenance
    assert not leftovers(str(out_dir))
    assert failures(data) == []
    measured = {r["behaviour"]: r for r in data["results"]}
    if "initial_rto_ms" in variant.expect:
        assert measured["initial_rto_ms"]["pass"] is True, measured["initial_rto_ms"]
