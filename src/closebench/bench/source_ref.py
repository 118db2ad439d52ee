"""A variant's stack built from another commit of its source (`--source-ref`).

A ref is a full commit id, a tag/branch/short id that a local clone resolves (`--repo-dir`), a
release of the variant's releases.toml (label, tag or commit prefix), or a commit prefix that
names exactly one archive present. The archive is looked up like a pinned one
(CLOSEBENCH_SOURCES, then the cache); with a clone it is made there by `git archive` of the
manifest's paths. Such an archive is not pinned in the manifest: its content hash is computed
on first use, logged, used in the build key and recorded in the run manifest.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from closebench.bench import exact_source
from closebench.errors import UserError
from closebench.variants.manifest import SourceArchive, SourceRange, Variant
from closebench.variants.releases import Release, has_releases, load_releases

Log = Callable[[str], None]
HEX = re.compile(r"^[0-9a-f]{4,40}$")
GIT_TIMEOUT_S = 120


# --- flags -----------------------------------------------------------------------------------


def parse_ref_spec(spec: str) -> dict[str | None, str]:
    """`REF` (the variant's only repository) or `owner/repo=REF[,owner/repo=REF]`."""
    out: dict[str | None, str] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        repo, sep, ref = part.rpartition("=")
        if sep and (repo.count("/") != 1 or not ref):
            raise UserError(f"--source-ref {spec!r}: expected REF or owner/repo=REF")
        key = repo if sep else None
        if key in out:
            raise UserError(f"--source-ref {spec!r}: {key or 'the ref'} given twice")
        out[key] = ref if sep else part
    if not out:
        raise UserError(f"--source-ref {spec!r}: empty")
    return out


def parse_repo_dirs(values: Iterable[str]) -> dict[str | None, Path]:
    """`--repo-dir DIR` (any repository) or `--repo-dir owner/repo=DIR`."""
    out: dict[str | None, Path] = {}
    for value in values:
        repo, sep, folder = value.partition("=")
        key, path = (repo, Path(folder)) if sep and repo.count("/") == 1 else (None, Path(value))
        out[key] = git_dir(path)
    return out


def git_dir(path: Path) -> Path:
    """A clone's folder, its .git, or a mirror folder holding `repo/` (a bare repository)."""
    for candidate in (path / "repo", path):
        if (candidate / "objects").is_dir() or (candidate / ".git").exists():
            return candidate
    raise UserError(f"--repo-dir {path}: not a git repository (no objects/ or .git)")


def repo_dir_for(repo: str, dirs: Mapping[str | None, Path]) -> Path | None:
    return dirs.get(repo) or dirs.get(None)


# --- git -------------------------------------------------------------------------------------


def git(repo_dir: Path, *args: str) -> str:
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo_dir), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise UserError("git not found; it is needed to read --repo-dir") from None
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["no output"])[0]
        raise UserError(f"git -C {repo_dir} {' '.join(args)}: {first}")
    return proc.stdout


def rev_parse(repo_dir: Path, ref: str) -> str:
    return git(repo_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()


def is_ancestor(repo_dir: Path, older: str, newer: str) -> bool:
    proc = subprocess.run(
        ["git", "-C", str(repo_dir), "merge-base", "--is-ancestor", older, newer],
        capture_output=True,
        timeout=GIT_TIMEOUT_S,
        check=False,
    )
    return proc.returncode == 0


def commit_date(repo_dir: Path, commit: str) -> str:
    return git(repo_dir, "log", "-1", "--format=%cs", commit).strip()


# --- refs -> commits -------------------------------------------------------------------------


def present_commits(repo: str) -> list[str]:
    """Commits of `repo` whose archive is present (CLOSEBENCH_SOURCES or the cache)."""
    owner, name = repo.split("/")
    found: dict[str, None] = {}
    for folder in exact_source.sources_dirs():
        for path in sorted(folder.glob(f"{owner}+{name}@*.tar.gz")):
            commit = path.name.removesuffix(".tar.gz").rsplit("@", 1)[1]
            if re.fullmatch(r"[0-9a-f]{40}", commit):
                found.setdefault(commit)
    return list(found)


def resolve_ref(
    variant: Variant, repo: str, ref: str, repo_dir: Path | None
) -> tuple[str, Release | None]:
    """(full commit id, the release it is when releases.toml lists it) for one repository."""
    listed = load_releases(variant.base_name) if has_releases(variant.base_name) else None
    release = listed.find(ref) if listed else None
    if release is not None and release.repo == repo:
        return release.commit, release
    if re.fullmatch(r"[0-9a-f]{40}", ref):
        commit = ref
    elif repo_dir is not None:
        commit = rev_parse(repo_dir, ref)
        if not commit:
            raise UserError(f"{variant.name}: {ref!r} is not a commit of {repo} in {repo_dir}")
    elif HEX.match(ref):
        matches = [c for c in present_commits(repo) if c.startswith(ref)]
        if len(matches) != 1:
            raise UserError(
                f"{variant.name}: {ref!r} names {len(matches)} archive(s) of {repo} here; give "
                f"a full commit id, a release of releases.toml, or --repo-dir with a clone"
            )
        commit = matches[0]
    else:
        raise UserError(
            f"{variant.name}: cannot resolve {ref!r} of {repo} without a clone; pass "
            f"--repo-dir DIR (a clone or mirror of {repo}) or a full commit id"
        )
    if listed is not None:
        release = listed.find(commit)
    return commit, release if release is not None and release.repo == repo else None


def ref_label(ref: str, commit: str, release: Release | None) -> str:
    """The stack's suffix: the release label, a tag-like ref as written, or a short commit."""
    if release is not None:
        return release.label
    if HEX.match(ref):
        return commit[:7]
    return re.sub(r"[^A-Za-z0-9._-]", "-", ref)


def ranges_for(
    variant: Variant, commits: Mapping[str, str], dirs: Mapping[str | None, Path], log: Log
) -> list[SourceRange]:
    """The manifest's `[[source.ranges]]` that contain these commits (needs a clone)."""
    assert variant.source is not None
    chosen = []
    for rng in variant.source.ranges:
        commit = commits.get(rng.repo)
        if commit is None:
            continue
        repo_dir = repo_dir_for(rng.repo, dirs)
        if repo_dir is None:
            log(
                f"{variant.name}: cannot tell whether {commit[:7]} lies in the manifest's range "
                f"from {rng.since[:7]} without --repo-dir; the manifest's defaults are used"
            )
            continue
        inside = is_ancestor(repo_dir, rng.since, commit) and not (
            rng.until and is_ancestor(repo_dir, rng.until, commit)
        )
        if inside:
            log(f"{variant.name}: {commit[:7]} is in the range from {rng.since[:7]}: {rng.note}")
            chosen.append(rng)
    return chosen


def at_ref(
    variant: Variant,
    spec: Mapping[str | None, str],
    dirs: Mapping[str | None, Path],
    log: Log = print,
) -> Variant:
    """The variant with its source at the commits `spec` names (archives made if needed)."""
    source = variant.source
    if source is None:
        raise UserError(f"{variant.name}: no [source] table, so no other commit to build")
    repos = [a.repo for a in source.archives]
    if None in spec:
        if len(repos) != 1:
            raise UserError(
                f"{variant.name}: its source has {len(repos)} repositories "
                f"({', '.join(repos)}); say which with --source-ref owner/repo=REF"
            )
        spec = {repos[0]: spec[None], **{k: v for k, v in spec.items() if k is not None}}
    commits: dict[str, str] = {}
    labels: list[str] = []
    release: Release | None = None
    for repo, ref in spec.items():
        assert repo is not None
        commits[repo], rel = resolve_ref(variant, repo, ref, repo_dir_for(repo, dirs))
        release = release or rel
        labels.append(ref_label(ref, commits[repo], rel))
    # "_" joins the refs of several repositories: "+" is not allowed in a stack label
    label = "_".join(labels) if len(labels) > 1 else labels[0]
    ranges = ranges_for(variant, commits, dirs, log)
    moved = variant.at_source_ref(
        commits, label, ranges, release=release.record() if release else None
    )
    assert moved.source is not None
    for archive in moved.source.archives:
        if not archive.pinned:
            ensure_archive(archive, repo_dir_for(archive.repo, dirs), log)
    return moved


def expand(
    variants: Sequence[Variant],
    specs: Sequence[str],
    repo_dirs: Sequence[str] = (),
    log: Log = print,
) -> list[Variant]:
    """Each variant with a [source] at every --source-ref (one stack per ref); the others once."""
    if not specs:
        return list(variants)
    dirs = parse_repo_dirs(repo_dirs)
    parsed = [parse_ref_spec(s) for s in specs]
    out: list[Variant] = []
    for variant in variants:
        if variant.source is None:
            out.append(variant)
            continue
        for spec in parsed:
            moved = at_ref(variant, spec, dirs, log)
            if moved.name not in {v.name for v in out}:
                out.append(moved)
    return out


def release_variants(
    variant: Variant, repo_dirs: Sequence[str] = (), log: Log = print
) -> list[Variant]:
    """The variant at each release of its releases.toml (the pinned one is the variant).

    Releases marked `available = false` are skipped with a line saying so.
    """
    listed = load_releases(variant.base_name)
    dirs = parse_repo_dirs(repo_dirs)
    for rel in listed.releases:
        if not rel.available:
            log(f"{variant.name}: release {rel.label} skipped: source not available here")
    chosen = [rel for rel in listed.releases if rel.available]
    return [at_ref(variant, {rel.repo: rel.commit}, dirs, log) for rel in chosen]


# --- archives ------------------------------------------------------------------------------


def _archive(a: SourceArchive) -> exact_source.Archive:
    return exact_source.Archive(a.repo, a.commit, a.paths, a.tree_sha256 or "")


def ensure_archive(archive: SourceArchive, repo_dir: Path | None, log: Log) -> Path:
    """The archive's path; made from the clone by `git archive` when it is not present."""
    arch = _archive(archive)
    found = exact_source.find_archive(arch)
    if found is not None:
        return found
    if repo_dir is None:
        raise exact_source.SourceUnavailable(exact_source.missing_hint(arch))
    dest = exact_source.cache_target(arch)
    tmp = dest.with_name(dest.name + ".part")
    # git archive refuses a pathspec that matches nothing: leave out a manifest path the
    # commit does not have yet (the lwip2 builder got patches/ only in 2018)
    paths = [p for p in arch.paths if git(repo_dir, "ls-tree", "--name-only", archive.commit, p)]
    log(f"making {arch.filename} from {repo_dir} (git archive of {', '.join(paths)})")
    try:
        git(
            repo_dir,
            "archive",
            "--format=tar.gz",
            f"--prefix={arch.top_folder}/",
            "-o",
            str(tmp),
            archive.commit,
            "--",
            *paths,
        )
    except UserError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(dest)
    return dest


def pin_on_first_use(variant: Variant, log: Log) -> Variant:
    """Fill in the content hash of every archive the manifest does not pin (computed now)."""
    source = variant.source
    if source is None or all(a.tree_sha256 for a in source.archives):
        return variant
    archives = []
    for a in source.archives:
        if a.tree_sha256:
            archives.append(a)
            continue
        path = exact_source.find_archive(_archive(a))
        if path is None:
            raise exact_source.SourceUnavailable(exact_source.missing_hint(_archive(a)))
        digest, count = exact_source.archive_tree_sha256(path, a.paths)
        if count == 0:
            raise UserError(f"{path}: none of {', '.join(a.paths)} inside at {a.commit[:7]}")
        log(
            f"{variant.name}: {a.repo}@{a.commit[:7]} is not pinned in the manifest; content "
            f"hash computed on first use: {digest} ({count} files; recorded in the run manifest)"
        )
        archives.append(dataclasses.replace(a, tree_sha256=digest))
    return dataclasses.replace(
        variant, source=dataclasses.replace(source, archives=tuple(archives))
    )


def source_record(variant: Variant) -> dict[str, object] | None:
    """The run manifest's note of a stack built from another commit, or None."""
    if variant.source_ref is None or variant.source is None:
        return None
    return {
        "ref": variant.source_ref,
        "variant": variant.base_name,
        "family": variant.source.family,
        "release": variant.release,
        "archives": [
            {
                "repo": a.repo,
                "commit": a.commit,
                "paths": list(a.paths),
                "tree_sha256": a.tree_sha256,
                "pinned": a.pinned,
            }
            for a in variant.source.archives
        ],
    }
