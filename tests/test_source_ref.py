"""A variant's stack at another commit of its source (--source-ref, releases.toml).

The repositories here are small ones the tests make with git; a tiny builder family compiles
the archive's own header into a program, so two refs really build two different binaries.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from closebench.bench import exact, source_ref
from closebench.bench.links import load_link
from closebench.bench.variant_build import resolve
from closebench.errors import UserError
from closebench.load.profiles import load_profile
from closebench.pipeline import runner
from closebench.pipeline.cell import CellPlan
from closebench.variants.manifest import Source, SourceArchive, SourceRange, load_variant
from closebench.variants.releases import load_releases

REPO = "demo/stack"
FAMILY = "test-demo-flip"
PROGRAM = '#include <stdio.h>\n#include "opts.h"\nint main(void) { printf("%d\\n", FLIP); }\n'

needs_tools = pytest.mark.skipif(
    not (shutil.which("git") and shutil.which("gcc")), reason="needs git and gcc"
)


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    out = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True
    )
    return out.stdout.strip()


def commit_files(repo: Path, files: Mapping[str, str], message: str, when: int) -> str:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git(repo, "add", "-A")
    stamp = f"{1_500_000_000 + when * 86400} +0000"
    os.environ["GIT_AUTHOR_DATE"] = os.environ["GIT_COMMITTER_DATE"] = stamp
    try:
        git(repo, "commit", "-q", "-m", message)
    finally:
        del os.environ["GIT_AUTHOR_DATE"], os.environ["GIT_COMMITTER_DATE"]
    return git(repo, "rev-parse", "HEAD")


def make_history(repo: Path, flips_at: int, count: int, broken: int | None = None) -> list[str]:
    """`count` commits of src/opts.h; FLIP is 0 before commit `flips_at`, 1 from it on.

    Commit `broken` (if any) does not compile; odd commits also touch a file the build does
    not read (docs/), so path filtering has something to leave out.
    """
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    commits = []
    for i in range(count):
        flip = 1 if i >= flips_at else 0
        opts = f"/* commit {i} */\n#define FLIP {flip}\n"
        if i == broken:
            opts += "#error this commit does not build\n"
        commits.append(commit_files(repo, {"src/opts.h": opts}, f"commit {i}", i))
        if i % 2:
            commit_files(repo, {"docs/notes.txt": f"note {i}\n"}, f"docs {i}", i)
    git(repo, "tag", "v-last", commits[-1])
    return commits


def compile_program(trees: Mapping[str, Path], out_dir: Path, program: str) -> Path:
    """Compile `program` against the archive's src/opts.h (the test families' build)."""
    src = out_dir / "main.c"
    src.write_text(program)
    binary = out_dir / "cbdev"
    proc = subprocess.run(
        ["gcc", "-std=gnu99", f"-I{trees[REPO] / 'src'}", str(src), "-o", str(binary)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise UserError(f"exact build failed: {proc.stderr.strip().splitlines()[0]}")
    return binary


def build_flip(
    trees: Mapping[str, Path], out_dir: Path, options: Mapping[str, object], log: Callable
) -> Path:
    """The test family: compile the archive's src/opts.h into a program printing FLIP."""
    return compile_program(trees, out_dir, PROGRAM)


def isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, family: str, build: Callable) -> Path:
    """Own sources folder and cache, and a test family among the builders."""
    sources = tmp_path / "sources"
    sources.mkdir()
    monkeypatch.setenv("CLOSEBENCH_SOURCES", str(sources))
    monkeypatch.setenv("CLOSEBENCH_CACHE", str(tmp_path / "cache"))
    real = exact.families()
    monkeypatch.setattr(exact, "families", lambda: {**real, family: (build, Path(__file__))})
    return sources


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate(tmp_path, monkeypatch, FAMILY, build_flip)


def demo_variant(commit: str, repo_dir: Path, ranges: tuple[SourceRange, ...] = ()):
    """nodemcu-2016 pointed at the test repository, pinned at `commit`."""
    log: list[str] = []
    archive = SourceArchive(REPO, commit, ("src",), None, pinned=False)
    path = source_ref.ensure_archive(archive, repo_dir, log.append)
    digest, _ = source_ref.exact_source.archive_tree_sha256(path, ["src"])
    variant = load_variant("nodemcu-2016")
    source = Source(
        family=FAMILY,
        archives=(SourceArchive(REPO, commit, ("src",), digest),),
        known_differences=("demo",),
        ranges=ranges,
    )
    return dataclasses.replace(variant, source=source)


def run_binary(path: Path) -> str:
    return subprocess.run([str(path)], capture_output=True, text=True, check=True).stdout.strip()


# --- tests ------------------------------------------------------------------------------------


def test_ref_specs_and_repo_dirs_parse(tmp_path: Path) -> None:
    assert source_ref.parse_ref_spec("v1.0") == {None: "v1.0"}
    assert source_ref.parse_ref_spec("a/b=v1,c/d=abc1234") == {"a/b": "v1", "c/d": "abc1234"}
    for bad in ("", "a/b=", "a=b", "a/b=1,a/b=2"):
        with pytest.raises(UserError):
            source_ref.parse_ref_spec(bad)
    mirror = tmp_path / "owner+repo"
    (mirror / "repo" / "objects").mkdir(parents=True)
    dirs = source_ref.parse_repo_dirs([str(mirror), f"x/y={mirror}"])
    assert dirs == {None: mirror / "repo", "x/y": mirror / "repo"}
    with pytest.raises(UserError, match="not a git repository"):
        source_ref.parse_repo_dirs([str(tmp_path)])


@needs_tools
def test_two_refs_of_one_variant_are_two_stacks(isolated: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commits = make_history(repo, flips_at=2, count=3)
    variant = demo_variant(commits[0], repo)
    log: list[str] = []
    pinned, moved = source_ref.expand(
        [variant],
        [commits[0], "v-last"],  # the pinned commit and a tag the clone resolves
        [f"{REPO}={repo}"],
        log.append,
    )
    assert pinned is variant  # at the pinned commit the variant is itself
    assert moved.name == "nodemcu-2016~v-last" and moved.base_name == "nodemcu-2016"
    assert moved.source is not None and moved.source.archives[0].commit == commits[-1]
    assert moved.source.archives[0].tree_sha256 is None  # not pinned: hashed on first use
    assert any("making demo+stack@" in line for line in log)  # git archive into the cache
    runs = {}
    for v in (pinned, moved):
        ran, build = resolve(v, "auto", log.append)
        runs[v.name] = (ran, build, run_binary(build.path))
    assert runs["nodemcu-2016"][2] == "0" and runs["nodemcu-2016~v-last"][2] == "1"
    assert runs["nodemcu-2016"][1].key != runs["nodemcu-2016~v-last"][1].key
    ran = runs["nodemcu-2016~v-last"][0]
    assert ran.exact and ran.source_ref == "v-last"
    assert any("not pinned in the manifest; content hash computed on first use" in m for m in log)
    record = runner._variant_record(ran, runs["nodemcu-2016~v-last"][1])
    (arch,) = record["source_ref"]["archives"]
    assert arch["commit"] == commits[-1] and not arch["pinned"] and len(arch["tree_sha256"]) == 64
    assert runner._variant_record(pinned, runs["nodemcu-2016"][1])["source_ref"] is None


@needs_tools
def test_refs_share_link_seeds_and_never_fall_back(isolated: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commits = make_history(repo, flips_at=1, count=2)
    variant = demo_variant(commits[0], repo)
    (moved,) = source_ref.expand([variant], [commits[1][:9]], [str(repo)], lambda _m: None)
    assert moved.name == f"nodemcu-2016~{commits[1][:7]}"
    plans = [
        CellPlan(v, load_profile("seed-200ms"), load_link("wifi-lossy"), 1, "2.1.3", 20, 15)
        for v in (variant, moved)
    ]
    assert plans[0].id != plans[1].id and plans[0].seed == plans[1].seed
    with pytest.raises(UserError, match="own source only"):
        resolve(moved, "approximation", lambda _m: None)
    for archive in isolated.parent.joinpath("cache", "sources").glob("*.tar.gz"):
        archive.unlink()
    with pytest.raises(UserError, match=r"source archive .* not found"):
        resolve(moved, "auto", lambda _m: None)  # a ref has no approximation to fall back to


@needs_tools
def test_without_a_clone_a_prefix_names_one_present_archive(isolated: Path, tmp_path: Path):
    repo = tmp_path / "repo"
    commits = make_history(repo, flips_at=1, count=2)
    variant = demo_variant(commits[0], repo)
    source_ref.ensure_archive(SourceArchive(REPO, commits[1], ("src",), None), repo, print)
    (moved,) = source_ref.expand([variant], [commits[1][:8]], [], lambda _m: None)
    assert moved.source is not None and moved.source.archives[0].commit == commits[1]
    with pytest.raises(UserError, match="without a clone"):
        source_ref.expand([variant], ["v-last"], [], lambda _m: None)
    with pytest.raises(UserError, match="not a repository of its source"):
        variant.at_source_ref({"other/repo": commits[1]}, "x")


@needs_tools
def test_a_manifest_range_changes_family_and_close_inside_it(isolated: Path, tmp_path: Path):
    repo = tmp_path / "repo"
    commits = make_history(repo, flips_at=9, count=4)
    rng = SourceRange(
        REPO,
        commits[2],
        None,
        "espressif-lwip14",
        ("net on raw lwIP",),
        "app change",
        "nodemcu-net",
    )
    variant = demo_variant(commits[0], repo, (rng,))
    before, inside = source_ref.expand(
        [variant], [commits[1], commits[3]], [str(repo)], lambda _m: None
    )
    assert before.source is not None and inside.source is not None
    assert (before.source.family, before.emulation.close) == (FAMILY, "espconn")
    assert (inside.source.family, inside.emulation.close) == ("espressif-lwip14", "nodemcu-net")
    assert inside.source.known_differences[-1] == "net on raw lwIP"


def test_nodemcu_release_list_is_cited_and_ordered() -> None:
    listed = load_releases("nodemcu-2016")
    pinned = load_variant("nodemcu-2016").source
    assert pinned is not None
    assert listed.releases[0].commit == pinned.archives[0].commit  # the 2016 test's commit
    dates = [r.date for r in listed.releases]
    assert dates == sorted(dates)
    assert listed.find("2.1.0-master_20170521") is listed.find("2.1.0") is listed.find("c8ac5cfb")
    for rel in listed.releases:
        assert rel.repo == "nodemcu/nodemcu-firmware" and rel.cite.ref == rel.commit


def test_release_labels_and_ref_names_do_not_clash_with_the_lwip_axis() -> None:
    from closebench.regress.compare import parse_side

    assert parse_side("nodemcu-2016~2.1.0") == ("nodemcu-2016~2.1.0", None)
    assert parse_side("nodemcu-2016@lwip2.2.1") == ("nodemcu-2016", "2.2.1")
    with pytest.raises(UserError, match="label"):
        load_variant("nodemcu-2016").at_source_ref({"nodemcu/nodemcu-firmware": "f" * 40}, "a/b")


def test_every_release_list_names_its_variants_repository() -> None:
    from closebench.paths import variants_dir
    from closebench.variants.releases import RELEASES_FILE

    found = sorted(p.parent.name for p in variants_dir().glob(f"*/{RELEASES_FILE}"))
    assert {"nodemcu-2016", "nodemcu-3.0"} <= set(found)
    for name in found:
        source = load_variant(name).source
        assert source is not None, name
        repos = {a.repo for a in source.archives}
        listed = load_releases(name)
        assert all(r.repo in repos for r in listed.releases), name
        pinned = {a.commit for a in source.archives}
        assert any(r.commit in pinned for r in listed.releases), name  # the variant itself


def test_micropython_esp32_releases_mark_what_is_not_here() -> None:
    """The pin (v1.25.0, IDF v5.2.2's esp-lwip) builds; newer IDFs' esp-lwip is not here and
    compare --releases leaves those out, saying so."""
    listed = load_releases("micropython-esp32")
    pinned = load_variant("micropython-esp32").source
    assert pinned is not None
    available = [r for r in listed.releases if r.available]
    assert [r.label for r in available] == ["v1.25.0"]
    assert available[0].commit == pinned.archives[0].commit
    missing = [r for r in listed.releases if not r.available]
    assert missing and all("source not available here" in r.networking for r in missing)
    assert all(r.commit != pinned.archives[0].commit for r in missing)
    lines: list[str] = []
    stacks = source_ref.release_variants(load_variant("micropython-esp32"), log=lines.append)
    assert len(stacks) == 1
    assert sum("source not available here" in line for line in lines) == len(missing)
