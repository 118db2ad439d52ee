"""A firmware's own stack source: archives by commit, verified by a content hash, unpacked once.

An archive is `<owner>+<repo>@<commit>.tar.gz` holding the repository under one top folder,
as GitHub's archive download (`<repo>-<commit>/`) and `git archive --prefix=<repo>-<commit>/`
both make it. The hash covers only the paths the build reads (file paths and bytes below the
top folder), so a full tarball and a path-limited `git archive` of the same commit verify alike;
a whole-commit archive is not always possible (one of NodeMCU's commits has a blob missing in
mirrors).

Archives are looked up in `CLOSEBENCH_SOURCES` (one or more folders, `:`-separated) and then
in the cache's `sources/` folder. Nothing is downloaded unless asked (`closebench sources
fetch`): a bench run never reaches outside the machine by itself.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from closebench.bench.lwip_source import file_lock
from closebench.errors import UserError
from closebench.paths import cache_dir

# GitHub's archive download; CLOSEBENCH_SOURCES_URL points a test at a loopback server.
DEFAULT_URL = "https://github.com/{repo}/archive/{commit}.tar.gz"
DOWNLOAD_TIMEOUT_S = 60


class SourceUnavailable(UserError):
    """An archive is missing: the bench may fall back to its approximation."""


@dataclass(frozen=True)
class Archive:
    """One repository at one commit, and the paths of it that the build reads."""

    repo: str  # owner/name
    commit: str  # 40 hex digits
    paths: tuple[str, ...]  # below the top folder; a folder covers everything under it
    tree_sha256: str

    @property
    def filename(self) -> str:
        owner, name = self.repo.split("/")
        return f"{owner}+{name}@{self.commit}.tar.gz"

    @property
    def label(self) -> str:
        return f"{self.repo}@{self.commit[:7]}"

    @property
    def top_folder(self) -> str:
        return f"{self.repo.split('/')[1]}-{self.commit}"


def sources_dirs() -> list[Path]:
    """Where archives are looked for, in order: CLOSEBENCH_SOURCES, then the cache."""
    env = os.environ.get("CLOSEBENCH_SOURCES", "")
    dirs = [Path(d) for d in env.split(os.pathsep) if d]
    return [*dirs, cached_sources_dir()]


def cached_sources_dir() -> Path:
    """The cache's sources/ folder, where fetched or locally made archives are kept."""
    return cache_dir() / "sources"


def cache_target(archive: Archive) -> Path:
    """The path an archive gets in the cache (the folder is made)."""
    folder = cached_sources_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / archive.filename


def find_archive(archive: Archive) -> Path | None:
    for folder in sources_dirs():
        path = folder / archive.filename
        if path.is_file():
            return path
    return None


def missing_hint(archive: Archive) -> str:
    """One line: which archive, where to put it, how to make it."""
    where = " or ".join(str(d) for d in sources_dirs())
    return (
        f"source archive {archive.filename} not found in {where}; run `closebench sources fetch` "
        f"on a machine that reaches GitHub, give run/compare/probe/bisect `--repo-dir CLONE`, "
        f"or make it from a clone with `git archive --prefix={archive.top_folder}/ "
        f"-o {archive.filename} {archive.commit} {' '.join(archive.paths)}`"
    )


def _covered(rel: str, paths: Sequence[str]) -> bool:
    return any(rel == p or rel.startswith(p.rstrip("/") + "/") for p in paths)


def _members(tar: tarfile.TarFile, paths: Sequence[str]) -> Iterator[tuple[str, tarfile.TarInfo]]:
    """(path below the top folder, member) for the covered files, in archive order."""
    for member in tar:
        parts = PurePosixPath(member.name).parts
        if len(parts) < 2 or not (member.isfile() or member.issym()):
            continue
        rel = "/".join(parts[1:])
        if _covered(rel, paths):
            yield rel, member


def _entry_digest(rel: str, kind: bytes, content: bytes) -> bytes:
    return rel.encode() + b"\0" + kind + hashlib.sha256(content).digest()


def tree_digest(entries: Iterable[tuple[str, bytes, bytes]]) -> str:
    """The content hash: sorted (path, kind, bytes) of every covered file or symlink."""
    digest = hashlib.sha256()
    for rel, kind, content in sorted(entries):
        digest.update(_entry_digest(rel, kind, content))
    return digest.hexdigest()


def archive_tree_sha256(path: Path, paths: Sequence[str]) -> tuple[str, int]:
    """Content hash of an archive's covered files, and how many files it covered."""
    entries = []
    try:
        with tarfile.open(path) as tar:
            for rel, member in _members(tar, paths):
                if member.issym():
                    entries.append((rel, b"l", member.linkname.encode()))
                else:
                    fh = tar.extractfile(member)
                    entries.append((rel, b"f", fh.read() if fh else b""))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UserError(f"{path}: not a readable .tar.gz ({exc})") from None
    return tree_digest(entries), len(entries)


def folder_tree_sha256(root: Path, paths: Sequence[str]) -> str:
    """The same hash over an unpacked top folder (the cached tree is checked with it)."""
    entries = []
    for item in root.rglob("*"):
        rel = item.relative_to(root).as_posix()
        if not _covered(rel, paths):
            continue
        if item.is_symlink():
            entries.append((rel, b"l", os.readlink(item).encode()))
        elif item.is_file():
            entries.append((rel, b"f", item.read_bytes()))
    return tree_digest(entries)


def verify_archive(archive: Archive, path: Path) -> None:
    actual, count = archive_tree_sha256(path, archive.paths)
    if count == 0:
        raise UserError(
            f"{path}: none of {', '.join(archive.paths)} inside; is it {archive.repo} "
            f"under one top folder?"
        )
    if actual != archive.tree_sha256:
        raise UserError(
            f"{path}: content hash mismatch for {', '.join(archive.paths)} "
            f"(expected {archive.tree_sha256}, got {actual}); wrong commit or altered archive"
        )


def trees_cache() -> Path:
    return cached_sources_dir() / "trees"


def _extract(archive: Archive, path: Path, dest: Path) -> None:
    """Unpack the covered paths into dest atomically (no half tree under its name)."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(path) as tar:
        chosen = []
        for rel, member in _members(tar, archive.paths):
            member.name = rel
            chosen.append(member)
        tar.extractall(tmp, members=chosen, filter="data")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)


def unpack(archive: Archive) -> Path:
    """The verified tree of one archive (its covered paths), unpacked in the cache once."""
    path = find_archive(archive)
    if path is None:
        raise SourceUnavailable(missing_hint(archive))
    dest = trees_cache() / archive.filename.removesuffix(".tar.gz")
    stamp = dest / ".closebench-tree-sha256"
    with file_lock(trees_cache() / f".lock-{archive.filename}"):
        if stamp.is_file() and stamp.read_text().strip() == archive.tree_sha256:
            return dest
        verify_archive(archive, path)
        _extract(archive, path, dest)
        if folder_tree_sha256(dest, archive.paths) != archive.tree_sha256:
            raise UserError(f"{dest}: unpacked tree does not match its archive's hash")
        stamp.write_text(archive.tree_sha256 + "\n")
    return dest


def unpack_all(archives: Sequence[Archive]) -> dict[str, Path]:
    """repo -> verified tree, or SourceUnavailable naming the first missing archive."""
    return {a.repo: unpack(a) for a in archives}


def missing(archives: Sequence[Archive]) -> list[Archive]:
    return [a for a in archives if find_archive(a) is None]


def download(archive: Archive, log: Callable[[str], None] = print) -> Path:
    """Fetch one archive by commit into the cache's sources/ folder and verify it."""
    url = os.environ.get("CLOSEBENCH_SOURCES_URL", DEFAULT_URL).format(
        repo=archive.repo, commit=archive.commit
    )
    dest = cache_target(archive)
    tmp = dest.with_name(dest.name + ".part")
    log(f"downloading {url}")
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp, tmp.open("wb") as fh:
            shutil.copyfileobj(resp, fh)
        verify_archive(archive, tmp)
    except (urllib.error.URLError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"download of {url} failed ({exc}); {missing_hint(archive)}") from None
    except UserError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dest)
    return dest
