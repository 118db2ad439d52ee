"""Device builds: both lwIP versions, build cache, option checks, compiler errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from closebench.bench import device_build
from closebench.bench.device_build import build_device
from closebench.bench.lwip_source import SUPPORTED, fetch_lwip
from closebench.bench.lwipopts import known_option_names, render_lwipopts
from closebench.errors import UserError
from closebench.paths import device_source_dir


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache holding only the verified tarballs (no apt, no earlier builds)."""
    tarballs = [fetch_lwip(v).tarball for v in SUPPORTED]
    downloads = tmp_path / "cache" / "lwip" / "downloads"
    downloads.mkdir(parents=True)
    for tarball in tarballs:
        shutil.copyfile(tarball, downloads / tarball.name)
    monkeypatch.setenv("CLOSEBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("version", SUPPORTED)
def test_build_each_version(version: str, private_cache: Path) -> None:
    build = build_device(version, {"TCP_MSL": 5000}, log=lambda m: None)
    assert build.path.is_file()
    assert build.path.parent == private_cache / "builds" / build.key
    assert build.lwip_version == version
    manifest = json.loads((build.path.parent / "build.json").read_text())
    assert manifest["tarball_sha256"] == build.tarball_sha256
    assert manifest["options"] == {"TCP_MSL": 5000}
    assert "#define TCP_MSL 5000" in (build.path.parent / "lwipopts.h").read_text()


def test_same_key_does_not_compile_again(
    private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build_device("2.1.3", {"MEMP_NUM_TCP_PCB": 5}, log=lambda m: None)

    def no_compile(*args: object) -> None:
        raise AssertionError("compiled although the build is cached")

    monkeypatch.setattr(device_build, "_compile", no_compile)
    second = build_device("2.1.3", {"MEMP_NUM_TCP_PCB": 5}, log=lambda m: None)
    assert second.path == first.path and second.key == first.key
    assert device_build.build_key("2.1.3", {"MEMP_NUM_TCP_PCB": 6}) != first.key
    assert device_build.build_key("2.2.1", {"MEMP_NUM_TCP_PCB": 5}) != first.key


def test_unknown_option_suggests(private_cache: Path) -> None:
    with pytest.raises(UserError, match=r"unknown lwIP option 'TCP_MLS'.*did you mean TCP_MSL\?"):
        build_device("2.1.3", {"TCP_MLS": 5000}, log=lambda m: None)


def test_conflicting_option_refused() -> None:
    with pytest.raises(UserError, match="LWIP_IPV6=1 conflicts"):
        render_lwipopts({"LWIP_IPV6": 1})
    assert "#define LWIP_STATS 1" in render_lwipopts({"LWIP_STATS": 1})


def test_tcp_priv_guards_are_options() -> None:
    for version in SUPPORTED:
        names = known_option_names(fetch_lwip(version))
        assert {"TCP_TMR_INTERVAL", "TCP_MSL", "TCP_FAST_INTERVAL", "MEMP_NUM_TCP_PCB"} <= names
        # hard-coded (not guarded) in these releases, so not overridable
        assert "TCP_FIN_WAIT_TIMEOUT" not in names
        assert "LWIP_HDR_OPT_H" not in names
    assert "LWIP_TCP_RTO_TIME" in known_option_names(fetch_lwip("2.2.1"))
    assert "LWIP_TCP_RTO_TIME" not in known_option_names(fetch_lwip("2.1.3"))


def test_compile_error_is_a_user_error(
    private_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    shutil.copytree(device_source_dir(), root / "firmware_variants" / "device")
    (root / "firmware_variants" / "device" / "broken.c").write_text("int f(void) { return x; }\n")
    monkeypatch.setenv("CLOSEBENCH_ROOT", str(root))
    with pytest.raises(UserError) as err:
        build_device("2.1.3", {}, log=lambda m: None)
    msg = str(err.value)
    assert "device build failed" in msg and "broken.c" in msg and "build.log" in msg
