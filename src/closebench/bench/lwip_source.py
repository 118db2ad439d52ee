"""Fetch a pinned lwIP release from Debian's source archive, verify it and unpack it.

Downloads go through apt's own client with a private configuration (no change to the
system's apt state). A verified tarball in the cache skips apt entirely; a tarball put
there by hand is accepted the same way, for machines without access to Debian sources.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from closebench.errors import UserError
from closebench.paths import cache_dir

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
ARCHIVE = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class _Pin:
    debian_version: str
    suite: str
    tarball: str
    sha256: str


PINS: dict[str, _Pin] = {
    "2.1.3": _Pin(
        "2.1.3+dfsg1-2",
        "bookworm",
        "lwip_2.1.3+dfsg1.orig.tar.xz",
        "0a8276d09fc4e97bbba2f953d74af2388fc2195ea156be9d7589e297a68fde24",
    ),
    "2.2.1": _Pin(
        "2.2.1+dfsg1-1+deb13u1",
        "trixie",
        "lwip_2.2.1+dfsg1.orig.tar.xz",
        "83729c274c499d3348e9fbbe043a3113f3fa8953e7efddc7c21c7fcbb1f2b7b1",
    ),
}
SUPPORTED = tuple(PINS)


@dataclass(frozen=True)
class LwipSource:
    version: str
    debian_version: str
    tarball: Path
    sha256: str
    src_dir: Path


def lwip_cache() -> Path:
    return cache_dir() / "lwip"


def pin_for(version: str) -> _Pin:
    try:
        return PINS[version]
    except KeyError:
        raise UserError(
            f"unsupported lwIP version {version!r}; supported: {', '.join(SUPPORTED)}"
        ) from None


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock so concurrent runs do not download or unpack twice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise UserError(
            f"{path}: sha256 mismatch (expected {expected}, got {actual}); "
            "delete the file and fetch again"
        )


def _manual_hint(pin: _Pin, downloads: Path) -> str:
    return f"or place {pin.tarball} (sha256 {pin.sha256}) by hand in {downloads}/ and run again"


def _apt_download(pin: _Pin, downloads: Path) -> None:
    """Download the source package with apt-get using a private state directory."""
    if shutil.which("apt-get") is None:
        raise UserError(
            f"apt-get not found; cannot fetch lwIP {pin.debian_version} — "
            + _manual_hint(pin, downloads)
        )
    apt_dir = lwip_cache() / "apt"
    (apt_dir / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (apt_dir / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    sources = apt_dir / "sources.list"
    lines = [
        f"deb-src [signed-by={KEYRING}] {ARCHIVE} {p.suite} main\n"
        for p in {p.suite: p for p in PINS.values()}.values()
    ]
    sources.write_text("".join(lines))
    opts = [
        "-o", f"Dir::Etc::SourceList={sources}",
        "-o", "Dir::Etc::SourceParts=/dev/null",
        "-o", f"Dir::State::Lists={apt_dir / 'lists'}",
        "-o", f"Dir::Cache={apt_dir / 'cache'}",
        "-o", "Dir::State::status=/dev/null",
        "-q",
    ]  # fmt: skip
    steps = [
        ["apt-get", *opts, "update"],
        ["apt-get", *opts, "source", "--download-only", f"lwip={pin.debian_version}"],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, cwd=downloads, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(
                f"apt-get {cmd[len(opts) + 1]} failed for lwIP {pin.debian_version} ({tail}); "
                + _manual_hint(pin, downloads)
            )


def _extract(tarball: Path, dest: Path) -> None:
    """Unpack into dest atomically: a half-extracted tree is never left under its name."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp, filter="data")
    entries = list(tmp.iterdir())
    root = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
    if not (root / "src" / "include" / "lwip" / "opt.h").is_file():
        raise UserError(f"{tarball}: no src/include/lwip/opt.h inside; is it an lwIP tarball?")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(root, dest)
    shutil.rmtree(tmp, ignore_errors=True)


def fetch_lwip(version: str) -> LwipSource:
    """Return the verified, unpacked lwIP source for `version`, downloading it if needed."""
    pin = pin_for(version)
    downloads = lwip_cache() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    tarball = downloads / pin.tarball
    src_dir = lwip_cache() / f"src-{version}"
    stamp = src_dir / ".closebench-sha256"
    with file_lock(lwip_cache() / f".lock-{version}"):
        if not tarball.is_file():
            _apt_download(pin, downloads)
            if not tarball.is_file():
                raise UserError(
                    f"apt-get did not produce {pin.tarball}; " + _manual_hint(pin, downloads)
                )
        _verify(tarball, pin.sha256)
        if not (stamp.is_file() and stamp.read_text().strip() == pin.sha256):
            _extract(tarball, src_dir)
            stamp.write_text(pin.sha256 + "\n")
    return LwipSource(version, pin.debian_version, tarball, pin.sha256, src_dir)
