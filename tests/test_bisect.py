"""closebench bisect: the candidates from a history, the decision, the search with skips.

The search runs on a synthetic history the test makes with git, whose behaviour flips at a
known commit through a real option in the archive (src/opts.h): each step makes the commit's
archive from the clone, hashes it on first use, compiles it with a tiny builder family and runs
the program, which serves 200 simulated connections and counts the faults its option causes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from test_source_ref import REPO, compile_program, demo_variant, isolate, make_history

from closebench.bench import source_ref
from closebench.bench.variant_build import resolve
from closebench.errors import UserError
from closebench.regress import bisect

FAMILY = "test-demo-conns"
# 200 connections; with FLIP set, every third one ends in a fault (an option of the archive)
PROGRAM = """#include <stdio.h>
#include "opts.h"
int main(void) {
    int faults = 0, n = 200;
    for (int i = 0; i < n; i++) faults += (FLIP && i % 3 == 0);
    printf("%d %d\\n", faults, n);
}
"""

needs_tools = pytest.mark.skipif(
    not (shutil.which("git") and shutil.which("gcc")), reason="needs git and gcc"
)


def build_conns(
    trees: Mapping[str, Path], out_dir: Path, options: Mapping[str, object], log: Callable
) -> Path:
    return compile_program(trees, out_dir, PROGRAM)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate(tmp_path, monkeypatch, FAMILY, build_conns)


def measured_by_building(repo: Path, good: str, out: Path) -> tuple[Callable, Callable, list]:
    """measure(commit): archive from the clone, build, run; rates_of reads what it printed."""
    import dataclasses

    base = demo_variant(good, repo)
    assert base.source is not None
    base = dataclasses.replace(base, source=dataclasses.replace(base.source, family=FAMILY))
    dirs = source_ref.parse_repo_dirs([str(repo)])
    built: list[str] = []

    def measure(commit: str) -> Path:
        variant = source_ref.at_ref(base, {REPO: commit}, dirs, lambda _m: None)
        try:
            _, build = resolve(variant, "exact", lambda _m: None)
        except UserError as exc:
            raise bisect.BuildFailed(str(exc)) from None
        built.append(commit)
        result = subprocess.run([str(build.path)], capture_output=True, text=True, check=True)
        path = out / f"{commit[:7]}.txt"
        path.write_text(result.stdout)
        return path

    def rates_of(path: Path, metric: str) -> dict[str, bisect.Rate]:
        k, n = (int(x) for x in path.read_text().split())
        return {"sim / ideal": bisect.Rate(k, n)}

    return measure, rates_of, built


@needs_tools
def test_candidates_follow_the_paths_the_build_reads(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commits = make_history(repo, flips_at=3, count=6)
    found = bisect.commits_from_git(repo, commits[0], commits[-1], ("src",))
    assert found == commits[1:]  # docs-only commits left out, oldest first, bad last
    with pytest.raises(UserError, match="not an ancestor"):
        bisect.commits_from_git(repo, commits[-1], commits[0], ("src",))


@needs_tools
def test_without_a_clone_the_archives_present_are_the_history(isolated: Path, tmp_path: Path):
    repo = tmp_path / "repo"
    commits = make_history(repo, flips_at=3, count=5)
    from closebench.variants.manifest import SourceArchive

    for c in reversed(commits):  # made out of order: the commit time orders them
        source_ref.ensure_archive(SourceArchive(REPO, c, ("src",), None), repo, lambda _m: None)
    assert bisect.commits_from_archives(REPO, commits[0], commits[-1]) == commits[1:]
    assert bisect.commits_from_archives(REPO, commits[1], commits[3]) == commits[2:4]


def test_decision_is_regress_test_with_holm_and_minimum_effect() -> None:
    same = bisect.decide({"a": bisect.Rate(50, 100)}, {"a": bisect.Rate(52, 100)}, "m", 0.01)
    assert not same.differs and same.rows[0]["verdict"] == "not significant"
    moved = bisect.decide({"a": bisect.Rate(0, 200)}, {"a": bisect.Rate(67, 200)}, "m", 0.01)
    assert moved.differs and moved.rows[0]["test"] == "z"
    rare = bisect.decide({"a": bisect.Rate(0, 200)}, {"a": bisect.Rate(3, 200)}, "m", 0.01)
    assert not rare.differs and rare.rows[0]["test"] == "fisher"
    assert bisect.pick(-1, 8, set()) == 3 and bisect.pick(-1, 8, {3, 4}) == 2
    assert bisect.pick(2, 3, set()) is None


@needs_tools
@pytest.mark.parametrize(("flips_at", "broken"), [(5, None), (1, None), (8, 4), (5, 4)])
def test_search_finds_the_commit_where_the_option_flips(
    isolated: Path, tmp_path: Path, flips_at: int, broken: int | None
) -> None:
    repo = tmp_path / "repo"
    commits = make_history(repo, flips_at=flips_at, count=9, broken=broken)
    measure, rates_of, built = measured_by_building(repo, commits[0], tmp_path)
    candidates = bisect.commits_from_git(repo, commits[0], commits[-1], ("src",))
    log: list[str] = []
    outcome = bisect.search(
        candidates, commits[0], measure, "stack_fault_rate", 0.01, log.append, rates_of=rates_of
    )
    skipped = {s.commit for s in outcome.steps if s.verdict == "skip"}
    assert skipped <= ({commits[broken]} if broken is not None else set())
    assert len(built) <= 2 + 4  # the two ends and about log2(8) steps
    if broken == flips_at - 1:  # the commit before the flip cannot be tested: as git bisect,
        assert outcome.first_bad is None  # the answer is "one of these"
        assert outcome.remaining == [commits[broken], commits[flips_at]]
        return
    assert outcome.first_bad == commits[flips_at]
    assert outcome.evidence["first_bad"]["rows"][0]["verdict"] == "regressed"


@needs_tools
def test_skips_around_the_flip_leave_the_candidates_as_git_bisect_does(
    isolated: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    commits = make_history(repo, flips_at=5, count=7, broken=2)
    measure, rates_of, _ = measured_by_building(repo, commits[0], tmp_path)
    candidates = bisect.commits_from_git(repo, commits[0], commits[-1], ("src",))

    def measure_also_3_broken(commit: str) -> Path:
        if commit == commits[3]:
            raise bisect.BuildFailed("pretend")
        return measure(commit)

    outcome = bisect.search(
        candidates,
        commits[0],
        measure_also_3_broken,
        "stack_fault_rate",
        0.01,
        lambda _m: None,
        rates_of=rates_of,
    )
    assert outcome.first_bad == commits[5]
    # 2 and 3 do not build; 4 is good, 5 is bad: 5 is the first bad one
    assert {s.commit for s in outcome.steps if s.verdict == "skip"} <= {commits[2], commits[3]}


@needs_tools
def test_ends_that_do_not_differ_leave_nothing_to_bisect(isolated: Path, tmp_path: Path):
    repo = tmp_path / "repo"
    commits = make_history(repo, flips_at=99, count=3)
    measure, rates_of, _ = measured_by_building(repo, commits[0], tmp_path)
    candidates = bisect.commits_from_git(repo, commits[0], commits[-1], ("src",))
    outcome = bisect.search(
        candidates, commits[0], measure, "stack_fault_rate", 0.01, print, rates_of=rates_of
    )
    assert outcome.first_bad is None and not outcome.remaining
    assert "nothing to bisect" in outcome.steps[-1].note


def test_bad_metric_is_refused() -> None:
    with pytest.raises(UserError, match="--metric"):
        bisect.check_metric("nope")
    assert "close_kind_rst_after_fin" in bisect.metric_names()


def test_cli_registers_bisect() -> None:
    from closebench.cli import build_parser

    args = build_parser().parse_args(
        ["bisect", "--variant", "nodemcu-2016", "--good", "2016-master", "--bad", "2.1.0"]
    )
    assert (args.profile, args.link, args.repetitions, args.run_time) == (
        "seed-200ms",
        "ideal",
        2,
        20.0,
    )
    assert os.path.basename(args.func.__module__.replace(".", "/")) == "bisect"
