"""`run --backend hardware`: the dry-run plan of a board's cells, and its refusals."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from closebench.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "benchmarks" / "lab.example.toml"
ARGS = ["run", "--backend", "hardware", "--board", "esp12e-1", "--profiles", "seed-200ms",
        "--links", "ideal", "--dry-run"]  # fmt: skip


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(
        "closebench.hardware.safety.read_interface_addresses",
        lambda _: [ipaddress.IPv4Interface("192.168.50.2/24")],
    )
    path = tmp_path / "lab.toml"
    path.write_text(EXAMPLE.read_text())
    return path


def test_dry_run_prints_each_cell_aimed_only_at_the_lab_device(lab: Path, capsys) -> None:
    assert main([*ARGS, "--lab", str(lab), "--variants", "nodemcu-3.0"]) == 0
    out = capsys.readouterr().out
    assert "cell nodemcu-3.0__seed-200ms__ideal__r1 on board esp12e-1" in out
    assert "'host 192.168.50.60 and tcp port 80'" in out
    assert "--host http://192.168.50.60:80" in out
    assert "nodemcu-lua console poller" in out


def test_hardware_runs_one_flashed_variant(lab: Path, capsys) -> None:
    assert main([*ARGS, "--lab", str(lab), "--variants", "nodemcu-3.0,nodemcu-2016"]) == 2
    assert "the one variant flashed on the board" in capsys.readouterr().err


def test_a_variant_the_board_may_not_run_is_refused(lab: Path, capsys) -> None:
    assert main([*ARGS, "--lab", str(lab), "--variants", "esp-idf-5.3"]) == 2
    assert "esp12e-1" in capsys.readouterr().err


def test_public_device_address_is_refused(lab: Path, capsys) -> None:
    lab.write_text(lab.read_text().replace('address = "192.168.50.60"', 'address = "8.8.8.8"'))
    assert main([*ARGS, "--lab", str(lab), "--variants", "nodemcu-3.0"]) == 2
    assert "8.8.8.8" in capsys.readouterr().err


def test_dry_run_with_remote_load_workers_names_the_master_and_the_worker_command(
    lab: Path, capsys
) -> None:
    spread = ["--locust-master-bind", "192.168.50.2:5557", "--locust-expect-workers", "2"]
    assert main([*ARGS, "--lab", str(lab), "--variants", "nodemcu-3.0", *spread]) == 0
    out = capsys.readouterr().out
    assert "--master --master-bind-host 192.168.50.2 --master-bind-port 5557" in out
    assert "--expect-workers 2" in out
    assert (
        "closebench load-worker --master 192.168.50.2:5557 --device 192.168.50.60 --cells 1" in out
    )


def test_local_load_workers_are_locust_processes(lab: Path, capsys) -> None:
    assert (
        main([*ARGS, "--lab", str(lab), "--variants", "nodemcu-3.0", "--locust-workers", "3"]) == 0
    )
    out = capsys.readouterr().out
    assert "--processes 3" in out and "load-worker" not in out
