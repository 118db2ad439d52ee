"""Typed readers for variant.toml: every check raises a one-line UserError naming file and field.

Kept apart from variants.py so the loader reads as a description of the manifest, and these
helpers stay generic (a table, a field, an expected type).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from closebench.errors import UserError, where

# lwIP releases the bench can build (Debian source packages pinned in bench/lwip_source.py).
LWIP_RELEASES = ("2.1.3", "2.2.1")
KINDS = ("lwip", "linux")
CLOSE_MODES = ("espconn", "nodemcu-net", "modlwip", "arduino-2.7", "arduino-3.1", "bsd-socket")
LINUX_CLOSE = "linux-kernel"
ADMISSIONS = ("none", "active", "established")
CHIPS = ("esp8266", "esp32")
FLASH_MODES = ("qio", "qout", "dio", "dout")
UPLOAD_TOOLS = ("nodemcu-uploader", "mpremote", "none")
CLIENT_FIN_ANSWERS = ("fin", "rst", "half_closed")
# How the app serves a second client while a first one is open (probe serial_service).
SERIAL_SERVICE = ("concurrent", "after_client_close", "after_device_close")
# When the device ACKs the client's FIN that follows the device's own close (probe client_fin_ack).
CLIENT_FIN_ACKS = ("immediate", "on_retransmit")
# What the first client past the accept queue gets (probe accept_queue): "none" or "<answer>:N".
ACCEPT_OVERFLOW_ANSWERS = ("rst", "syn_dropped")

# The device program fixes these (NO_SYS raw API, IPv4 only, stats for the resource timeline);
# a manifest setting them would silently be overridden, so it is refused.
FORCED_OPTIONS = frozenset(
    {"NO_SYS", "LWIP_IPV4", "LWIP_IPV6", "LWIP_TCP", "LWIP_STATS", "LWIP_SOCKET", "LWIP_NETCONN"}
)
OPTION_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_HEX_OFFSET = re.compile(r"^0x[0-9a-fA-F]+$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean", list: "a list"}


class Table:
    """One TOML table plus where it lives, so every error can say `file: dotted.field`."""

    def __init__(self, data: Mapping[str, Any], file: Path, prefix: str = "") -> None:
        self.data = data
        self.file = file
        self.prefix = prefix

    def field(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def fail(self, key: str, problem: str) -> UserError:
        return UserError(f"{where(self.file, self.field(key))}: {problem}")

    def check_keys(self, required: Iterable[str], optional: Iterable[str] = ()) -> None:
        required = tuple(required)
        allowed = set(required) | set(optional)
        for key in required:
            if key not in self.data:
                raise self.fail(key, "missing")
        for key in self.data:
            if key not in allowed:
                raise self.fail(key, f"unknown field (allowed: {', '.join(sorted(allowed))})")

    def get(self, key: str, kind: type, default: Any = None) -> Any:
        if key not in self.data:
            if default is None:
                raise self.fail(key, "missing")
            return default
        value = self.data[key]
        # bool is an int subclass in Python; a TOML `true` must not pass as a count.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            got = type(value).__name__
            raise self.fail(key, f"must be {_TYPE_NAMES.get(kind, kind.__name__)}, got {got}")
        return value

    def text(self, key: str, default: str | None = None) -> str:
        value = self.get(key, str, default)
        if not value.strip():
            raise self.fail(key, "must not be empty")
        return value

    def choice(self, key: str, allowed: Iterable[str]) -> str:
        allowed = tuple(allowed)
        value = self.text(key)
        if value not in allowed:
            raise self.fail(key, f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def count(self, key: str) -> int:
        value = self.get(key, int)
        if value < 0:
            raise self.fail(key, f"must be >= 0, got {value}")
        return value

    def strings(self, key: str, default: list[str] | None = None) -> tuple[str, ...]:
        values = self.get(key, list, default)
        for i, item in enumerate(values):
            if not isinstance(item, str) or not item.strip():
                raise self.fail(f"{key}[{i}]", "must be a non-empty string")
        return tuple(values)

    def sub(self, key: str, default: Mapping[str, Any] | None = None) -> Table:
        value = self.get(key, dict, default)
        return Table(value, self.file, f"{self.field(key)}.")

    def subtables(self, key: str) -> list[Table]:
        values = self.get(key, list)
        tables = []
        for i, item in enumerate(values):
            if not isinstance(item, dict):
                raise self.fail(f"{key}[{i}]", "must be a table")
            tables.append(Table(item, self.file, f"{self.field(key)}[{i}]."))
        return tables


def check_hex_offset(table: Table, key: str) -> str:
    value = table.text(key)
    if not _HEX_OFFSET.match(value):
        raise table.fail(key, f"must be a hex offset like '0x1000', got {value!r}")
    return value


def check_sha256(table: Table, key: str) -> str:
    value = table.text(key)
    if not _SHA256.match(value):
        raise table.fail(key, "must be 64 lowercase hex digits")
    return value


def release_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))
