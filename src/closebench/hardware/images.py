"""Where a variant's firmware image comes from: a file in the repo, a URL pinned by sha256
(downloaded once into the cache and verified every time it is used), or a build the user runs
first. `describe_image` is pure (for the dry-run); `materialize_image` does the I/O."""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from closebench.errors import UserError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# file:// lets a lab mirror images on a local disk; the sha256 pin makes the scheme irrelevant
# to integrity, but anything else (ftp, data, ...) is refused as a likely mistake.
_SCHEMES = ("https", "http", "file")

Opener = Callable[[str], IO[bytes]]


@dataclass(frozen=True)
class ImageSource:
    kind: str  # "path" | "url" | "build"
    path: Path  # the file esptool will read (for "url": the cache copy)
    url: str | None = None
    sha256: str | None = None
    build: str | None = None

    def describe(self) -> str:
        if self.kind == "url":
            state = "cached" if self.path.exists() else "not yet downloaded"
            return f"download {self.url} -> {self.path} (sha256 {self.sha256}, {state})"
        if self.kind == "build":
            state = "present" if self.path.exists() else "MISSING: run the build first"
            return f"build output {self.path} ({state}); build command: {self.build}"
        state = "present" if self.path.exists() else "MISSING"
        return f"local file {self.path} ({state})"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_image(image: Mapping[str, Any], base: Path, cache: Path, variant: str) -> ImageSource:
    """Turn the manifest's `image` table into an ImageSource without touching the network."""
    where = f"variant {variant}: hardware.image"
    keys = set(image)
    if keys == {"path"}:
        return ImageSource("path", (base / str(image["path"])).resolve())
    if keys == {"url", "sha256"}:
        url, sha = str(image["url"]), str(image["sha256"]).lower()
        if urllib.parse.urlparse(url).scheme not in _SCHEMES:
            raise UserError(f"{where}.url: scheme must be one of {', '.join(_SCHEMES)}")
        if not _SHA256.match(sha):
            raise UserError(f"{where}.sha256: must be 64 hex digits")
        name = Path(urllib.parse.urlparse(url).path).name or "image.bin"
        # The hash prefix in the name keeps two releases with the same file name apart.
        return ImageSource("url", cache / "images" / f"{sha[:16]}-{name}", url=url, sha256=sha)
    if keys == {"build", "output"}:
        output = (base / str(image["output"])).resolve()
        return ImageSource("build", output, build=str(image["build"]))
    raise UserError(
        f"{where}: needs {{path}}, {{url, sha256}} or {{build, output}}, got {sorted(keys)}"
    )


def _download(src: ImageSource, opener: Opener) -> None:
    assert src.url and src.sha256
    src.path.parent.mkdir(parents=True, exist_ok=True)
    part = src.path.with_name(src.path.name + ".part")
    digest = hashlib.sha256()
    try:
        with opener(src.url) as resp, part.open("wb") as out:
            for block in iter(lambda: resp.read(1 << 16), b""):
                digest.update(block)
                out.write(block)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise UserError(f"image download failed: {src.url}: {exc}") from None
    got = digest.hexdigest()
    if got != src.sha256:
        part.unlink(missing_ok=True)  # never leave an unverified image where it could be used
        raise UserError(
            f"image sha256 mismatch for {src.url}: expected {src.sha256}, got {got}; refusing it"
        )
    os.replace(part, src.path)  # atomic: the cache only ever holds verified files


def materialize_image(src: ImageSource, opener: Opener | None = None) -> Path:
    """Make sure the image file exists and is the one pinned; return its path."""
    if src.kind == "path":
        if not src.path.is_file():
            raise UserError(f"image not found: {src.path}")
        return src.path
    if src.kind == "build":
        if not src.path.is_file():
            raise UserError(f"image not built: run `{src.build}` first (expected {src.path})")
        return src.path
    if src.path.is_file() and sha256_file(src.path) == src.sha256:
        return src.path
    # Missing or corrupted cache copy: fetch again; the download is verified before use.
    src.path.unlink(missing_ok=True)
    _download(src, opener or (lambda url: urllib.request.urlopen(url, timeout=60)))
    return src.path
