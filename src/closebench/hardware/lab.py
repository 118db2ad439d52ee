"""The lab file (`lab.toml`): which boards sit on which serial ports, where the device lives on
the network, which interface to capture on, and which environment variables hold Wi-Fi secrets.

The lab file never holds the Wi-Fi SSID or password themselves, only the *names* of the
environment variables, so it can be committed or shared without leaking credentials.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from closebench.errors import UserError, where
from closebench.tomlfile import read_toml

LAB_ENV = "CLOSEBENCH_LAB"
CHIPS = ("esp8266", "esp32")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Console speed of the apps and firmwares we flash (NodeMCU, MicroPython and our sketches all
# default to 115200); flashing speed is separate and comes from the variant recipe.
DEFAULT_CONSOLE_BAUD = 115200
DEFAULT_READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Board:
    name: str
    chip: str
    port: str
    baud: int  # console baud (REPL / Lua prompt / app log)
    flash_baud: int | None  # overrides the variant's flashing baud (slow USB-serial adapters)
    variants: tuple[str, ...]


@dataclass(frozen=True)
class DeviceNet:
    address: str
    netmask: str
    gateway: str
    http_port: int
    ready_timeout_s: float


@dataclass(frozen=True)
class Lab:
    file: Path
    capture_interface: str
    wifi_ssid_env: str
    wifi_password_env: str
    device: DeviceNet
    boards: tuple[Board, ...]

    def board(self, name: str) -> Board:
        for board in self.boards:
            if board.name == name:
                return board
        known = ", ".join(b.name for b in self.boards)
        raise UserError(f"{self.file}: no board named {name!r} (boards: {known})")


def lab_path(arg: str | None) -> Path:
    """The lab file from `--lab`, else $CLOSEBENCH_LAB; there is no silent default because a
    wrong lab file means flashing the wrong port."""
    value = arg or os.environ.get(LAB_ENV)
    if not value:
        raise UserError(f"no lab file: pass --lab PATH or set {LAB_ENV}")
    return Path(value)


class _Fields:
    """A TOML table plus its dotted location, so each error names the file and the field."""

    def __init__(self, data: Any, file: Path, prefix: str) -> None:
        if not isinstance(data, dict):
            raise UserError(f"{where(file, prefix.rstrip('.') or None)}: must be a table")
        self.data = data
        self.file = file
        self.prefix = prefix

    def fail(self, key: str, problem: str) -> UserError:
        return UserError(f"{where(self.file, self.prefix + key)}: {problem}")

    def only(self, allowed: set[str]) -> None:
        for key in self.data:
            if key not in allowed:
                raise self.fail(key, f"unknown field (allowed: {', '.join(sorted(allowed))})")

    def text(self, key: str, default: str | None = None, pattern: re.Pattern | None = None) -> str:
        if key not in self.data:
            if default is None:
                raise self.fail(key, "missing")
            return default
        value = self.data[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "must be a non-empty string")
        if pattern is not None and not pattern.match(value):
            raise self.fail(key, f"invalid value {value!r}")
        return value

    def integer(self, key: str, default: int | None, low: int, high: int) -> int | None:
        if key not in self.data:
            return default
        value = self.data[key]
        # bool is an int in Python; `baud = true` must not pass.
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.fail(key, f"must be an integer in {low}..{high}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.data.get(key, default)
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if not numeric or not low <= value <= high:
            raise self.fail(key, f"must be a number in {low}..{high}")
        return float(value)

    def names(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key)
        if not isinstance(value, list) or not value:
            raise self.fail(key, "must be a non-empty list of variant names")
        for item in value:
            if not isinstance(item, str) or not _NAME.match(item):
                raise self.fail(key, f"invalid variant name {item!r}")
        return tuple(value)


def _board(data: Any, file: Path, index: int) -> Board:
    f = _Fields(data, file, f"boards[{index}].")
    f.only({"name", "chip", "port", "baud", "flash_baud", "variants"})
    chip = f.text("chip")
    if chip not in CHIPS:
        raise f.fail("chip", f"must be one of {', '.join(CHIPS)}, got {chip!r}")
    return Board(
        name=f.text("name", pattern=_NAME),
        chip=chip,
        port=f.text("port"),
        baud=int(f.integer("baud", DEFAULT_CONSOLE_BAUD, 300, 4_000_000) or 0),
        flash_baud=f.integer("flash_baud", None, 9600, 4_000_000),
        variants=f.names("variants"),
    )


def parse_lab(data: dict[str, Any], file: Path) -> Lab:
    top = _Fields(data, file, "")
    top.only({"lab", "device", "boards"})
    lab = _Fields(data.get("lab", {}), file, "lab.")
    lab.only({"capture_interface", "wifi_ssid_env", "wifi_password_env"})
    dev = _Fields(data.get("device", {}), file, "device.")
    dev.only({"address", "netmask", "gateway", "http_port", "ready_timeout_s"})
    device = DeviceNet(
        address=dev.text("address"),
        netmask=dev.text("netmask"),
        gateway=dev.text("gateway"),
        http_port=int(dev.integer("http_port", 80, 1, 65535) or 80),
        ready_timeout_s=dev.number("ready_timeout_s", DEFAULT_READY_TIMEOUT_S, 1, 3600),
    )
    raw_boards = data.get("boards")
    if not isinstance(raw_boards, list) or not raw_boards:
        raise UserError(f"{where(file, 'boards')}: at least one [[boards]] entry is required")
    boards = tuple(_board(b, file, i) for i, b in enumerate(raw_boards))
    seen: set[str] = set()
    for i, board in enumerate(boards):
        if board.name in seen:
            raise UserError(f"{where(file, f'boards[{i}].name')}: duplicate board {board.name!r}")
        seen.add(board.name)
    return Lab(
        file=file,
        capture_interface=lab.text("capture_interface"),
        wifi_ssid_env=lab.text("wifi_ssid_env", pattern=_ENV_NAME),
        wifi_password_env=lab.text("wifi_password_env", pattern=_ENV_NAME),
        device=device,
        boards=boards,
    )


def load_lab(path: Path) -> Lab:
    return parse_lab(read_toml(path, "lab file"), path)
