"""Installed from a wheel, outside the checkout: the data travels with the package.

The wheel is built without network (hatchling comes with the test extra) and unpacked into a
folder the tests put first on sys.path, so the checkout's editable install is not what runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = str(ROOT / "src")  # the checkout's package: kept off sys.path so the wheel's is used
EXPECTED_VARIANTS = 8


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(ROOT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = out.glob("closebench-*.whl")
    site = out / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    return site


def closebench(
    site: Path, cwd: Path, *args: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    """`python -m closebench` with the unpacked wheel first and the checkout's src/ off sys.path
    (only src/: nox keeps its venv, site-packages included, inside the checkout)."""
    code = (
        "import runpy, sys; "
        f"sys.path = [{str(site)!r}] + [p for p in sys.path if not p.startswith({SRC!r})]; "
        f"sys.argv = ['closebench', *{list(args)!r}]; "
        "runpy.run_module('closebench', run_name='__main__')"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CLOSEBENCH_")}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=clean | (env or {}),
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_wheel_lists_the_variants_from_any_folder(site: Path, tmp_path: Path) -> None:
    res = closebench(site, tmp_path, "variants", "--json")
    assert res.returncode == 0, res.stderr
    names = [row["name"] for row in json.loads(res.stdout)]
    assert len(names) == EXPECTED_VARIANTS and "nodemcu-2016" in names


def test_wheel_carries_what_a_run_needs(site: Path) -> None:
    data = site / "closebench" / "_data"
    for rel in (
        "firmware_variants/device/main.c",
        "firmware_variants/nodemcu-2016/init.lua",
        "benchmarks/locustfile.py",
        "benchmarks/profiles/seed-1s.toml",
        "benchmarks/links/ideal.toml",
        "benchmarks/probes/time_wait_length.py",
        "benchmarks/lab.example.toml",
        "analysis/report.ipynb",
        "results/baselines/nodemcu-2016.json",
    ):
        assert (data / rel).is_file(), rel


def test_installed_paths_point_at_the_package_and_the_working_folder(
    site: Path, tmp_path: Path
) -> None:
    code = (
        "from closebench import paths; "
        "print(paths.installed(), paths.variants_dir(), paths.results_dir(), sep='\\n')"
    )
    res = subprocess.run(
        [sys.executable, "-c",
         f"import sys; sys.path = [{str(site)!r}] + [p for p in sys.path "
         f"if not p.startswith({SRC!r})]; {code}"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("CLOSEBENCH_")},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    flag, variants, results = res.stdout.split("\n")[:3]
    assert flag == "True"
    assert Path(variants) == site / "closebench" / "_data" / "firmware_variants"
    assert Path(results) == tmp_path / "results"


def test_empty_variant_folder_is_an_error(site: Path, tmp_path: Path) -> None:
    (tmp_path / "firmware_variants").mkdir()
    res = closebench(site, tmp_path, "variants", env={"CLOSEBENCH_ROOT": str(tmp_path)})
    assert res.returncode == 2
    folder = tmp_path / "firmware_variants"
    expected = f"closebench: error: {folder}: no variants (folders with a variant.toml)"
    assert res.stderr.strip() == expected


def test_variant_folder_without_manifest_is_named(site: Path, tmp_path: Path) -> None:
    (tmp_path / "firmware_variants" / "half-made").mkdir(parents=True)
    res = closebench(site, tmp_path, "variants", env={"CLOSEBENCH_ROOT": str(tmp_path)})
    assert res.returncode == 2
    assert "half-made: a variant folder without variant.toml" in res.stderr
