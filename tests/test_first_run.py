"""A first run without the firmware source archives: quiet, one line per variant, one hint.

The devices are really built (the approximation, cached like any build); only where the
archives are looked for is pointed at empty folders, as on a fresh machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from closebench import cli
from closebench.bench import exact_source
from closebench.bench.variant_build import SOURCES_HINT, resolve
from closebench.errors import UserError
from closebench.pipeline import runner
from closebench.variants.manifest import load_variant

WITH_SOURCE = ["nodemcu-3.0", "micropython-esp8266"]


@pytest.fixture
def no_archives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """CLOSEBENCH_SOURCES and the cache's sources/ folder both empty (the builds stay)."""
    empty = tmp_path / "sources"
    empty.mkdir()
    monkeypatch.setenv("CLOSEBENCH_SOURCES", str(empty))
    monkeypatch.setattr(exact_source, "cached_sources_dir", lambda: tmp_path / "cache-sources")
    return empty


def test_one_line_per_variant_then_one_hint(no_archives: Path) -> None:
    matrix = runner.make_matrix([*WITH_SOURCE, "linux-reference"], ["seed-1s"], ["ideal"])
    lines: list[str] = []
    builds = runner.build_devices(matrix, lines.append)
    said = [line for line in lines if "source archives missing" in line]
    assert said == [
        f"{name}: approximation on lwIP {load_variant(name).emulation.lwip} "
        "(source archives missing)"
        for name in WITH_SOURCE
    ]
    assert lines.count(SOURCES_HINT) == 1 and lines[-1] == SOURCES_HINT, lines
    assert not [line for line in lines if ".tar.gz" in line or "not found" in line], lines
    by_name = {name: build for (name, _release), (_variant, build) in builds.items()}
    for name in WITH_SOURCE:  # what ran is still recorded as the approximation, and why
        assert by_name[name].provenance.endswith("(source unavailable)")


def test_no_hint_when_nothing_falls_back(no_archives: Path) -> None:
    lines: list[str] = []
    runner.build_devices(
        runner.make_matrix(["linux-reference"], ["seed-1s"], ["ideal"]), lines.append
    )
    assert SOURCES_HINT not in lines


def test_the_full_text_stays_in_sources_list_and_exact(no_archives: Path, capsys) -> None:
    variant = load_variant("nodemcu-3.0")
    assert variant.source is not None
    assert cli.main(["sources", "list", "--variants", "nodemcu-3.0"]) == 0
    out = capsys.readouterr().out
    for archive in variant.source.archives:
        name = f"{archive.repo.replace('/', '+')}@{archive.commit}.tar.gz"
        assert f"MISSING  {name}" in out
        assert f"source archive {name} not found in {no_archives}" in out
        assert f"git archive --prefix={archive.repo.split('/')[1]}-{archive.commit}/" in out
    with pytest.raises(UserError, match=r"nodemcu-3.0: source archive .*`git archive --prefix="):
        resolve(variant, "exact", log=lambda _m: None)
