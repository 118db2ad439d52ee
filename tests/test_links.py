"""Link profiles: every shipped profile loads, renders device arguments, bad values fail."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from closebench.bench.links import LINK_NAMES, load_link, load_link_file
from closebench.errors import UserError

GOOD = """
description = "test link"
[to_device]
delay_ms = 5
jitter_ms = 2
loss = 0.01
reorder = 0.005
rate_kbps = 20000
queue = 256
[from_device]
delay_ms = 1.5
jitter_ms = 0
loss = 0.0
reorder = 0.0
rate_kbps = 0
queue = 32
"""
SPEC = re.compile(
    r"^delay_ms=[0-9.]+,jitter_ms=[0-9.]+,loss=[0-9.e-]+,reorder=[0-9.e-]+,"
    r"rate_kbps=\d+,queue=\d+(,beacon_ms=[0-9.]+,dtim=\d+)?$"
)


def test_required_links_exist() -> None:
    assert {"ideal", "wifi-good", "wifi-lossy", "wifi-congested"} <= set(LINK_NAMES)


@pytest.mark.parametrize("name", LINK_NAMES)
def test_every_link_loads(name: str) -> None:
    link = load_link(name)
    assert link.name == name and link.description
    args = link.device_args()
    assert args[0] == "--link-in" and args[2] == "--link-out" and len(args) == 4
    assert SPEC.match(args[1]) and SPEC.match(args[3])


def test_device_args_exact(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(GOOD)
    assert load_link_file(path).device_args() == [
        "--link-in",
        "delay_ms=5,jitter_ms=2,loss=0.01,reorder=0.005,rate_kbps=20000,queue=256",
        "--link-out",
        "delay_ms=1.5,jitter_ms=0,loss=0,reorder=0,rate_kbps=0,queue=32",
    ]


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("loss = 0.01", "loss = 1.0", "to_device.loss"),
        ("loss = 0.01", "loss = -0.1", "to_device.loss"),
        ("delay_ms = 5", "delay_ms = -1", "to_device.delay_ms"),
        ("jitter_ms = 2", 'jitter_ms = "2"', "to_device.jitter_ms"),
        ("reorder = 0.005", "reorder = true", "to_device.reorder"),
        ("rate_kbps = 20000", "rate_kbps = 1.5", "to_device.rate_kbps"),
        ("queue = 256", "queue = 0", "to_device.queue"),
        ("queue = 256", "queue = 256\nburst = 3", "to_device.burst"),
        ("queue = 256\n", "\n", "to_device.queue"),
        ('description = "test link"', "", "description"),
    ],
)
def test_bad_values_rejected(tmp_path: Path, old: str, new: str, field: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(UserError) as err:
        load_link_file(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {field}:") and "\n" not in message


def test_missing_direction(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.split("[from_device]")[0])
    with pytest.raises(UserError, match=r"bad\.toml: from_device: missing"):
        load_link_file(path)


def test_unknown_link_name() -> None:
    with pytest.raises(UserError, match="unknown link profile 'nope'"):
        load_link("nope")
