"""lwIP source fetch: real apt download (cached), hash check, unknown versions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from closebench.bench import lwip_source
from closebench.bench.lwip_source import SUPPORTED, fetch_lwip
from closebench.errors import UserError


@pytest.mark.network
@pytest.mark.parametrize("version", SUPPORTED)
def test_fetch_both_versions(version: str) -> None:
    try:
        src = fetch_lwip(version)
    except UserError as exc:
        if "apt-get" not in str(exc):
            raise
        pytest.skip(f"Debian's source archive cannot be reached here: {exc}")
    assert src.version == version
    assert src.tarball.is_file()
    assert lwip_source.sha256_file(src.tarball) == src.sha256
    assert (src.src_dir / "src" / "include" / "lwip" / "opt.h").is_file()
    assert (src.src_dir / "src" / "core" / "tcp.c").is_file()


def test_second_fetch_skips_apt(monkeypatch: pytest.MonkeyPatch) -> None:
    fetch_lwip("2.1.3")

    def no_apt(*args: object, **kwargs: object) -> None:
        raise AssertionError("apt must not run when the tarball is cached")

    monkeypatch.setattr(lwip_source, "_apt_download", no_apt)
    assert fetch_lwip("2.1.3").src_dir.is_dir()


def test_corrupt_tarball_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = fetch_lwip("2.1.3").tarball
    monkeypatch.setenv("CLOSEBENCH_CACHE", str(tmp_path))
    downloads = tmp_path / "lwip" / "downloads"
    downloads.mkdir(parents=True)
    bad = downloads / good.name
    shutil.copyfile(good, bad)
    with bad.open("r+b") as fh:
        fh.seek(100)
        fh.write(b"corrupted!")
    with pytest.raises(UserError) as err:
        fetch_lwip("2.1.3")
    msg = str(err.value)
    assert bad.name in msg
    assert lwip_source.PINS["2.1.3"].sha256 in msg
    assert lwip_source.sha256_file(bad) in msg
    assert not (tmp_path / "lwip" / "src-2.1.3").exists()


def test_hand_placed_tarball_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = fetch_lwip("2.2.1").tarball
    monkeypatch.setenv("CLOSEBENCH_CACHE", str(tmp_path))
    (tmp_path / "lwip" / "downloads").mkdir(parents=True)
    shutil.copyfile(good, tmp_path / "lwip" / "downloads" / good.name)
    monkeypatch.setattr(lwip_source, "_apt_download", lambda *a: pytest.fail("apt ran"))
    src = fetch_lwip("2.2.1")
    assert src.src_dir == tmp_path / "lwip" / "src-2.2.1"
    assert (src.src_dir / "src" / "core" / "tcp_in.c").is_file()


def test_apt_failure_says_where_to_put_the_tarball(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOSEBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(lwip_source.shutil, "which", lambda name: None)
    with pytest.raises(UserError) as err:
        fetch_lwip("2.1.3")
    msg = str(err.value)
    pin = lwip_source.PINS["2.1.3"]
    assert pin.tarball in msg and pin.sha256 in msg
    assert str(tmp_path / "lwip" / "downloads") in msg


def test_unknown_version() -> None:
    with pytest.raises(UserError, match=r"2\.1\.3, 2\.2\.1"):
        fetch_lwip("1.4.1")
