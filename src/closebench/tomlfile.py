"""Read one TOML file with one-line errors: missing, unreadable, not UTF-8, not valid TOML.

Every TOML the project reads (variant manifests, load and link profiles, the lab file) goes
through read_toml, so a bad file gets the same kind of message wherever it is read.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from closebench.errors import UserError


def read_toml(path: Path | str, what: str) -> dict[str, Any]:
    """The table in `path`; `what` names the file in errors ("lab file", "load profile")."""
    path = Path(path)
    data = _read_bytes(path, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise UserError(
            f"{path}: {what} is not UTF-8 text (byte 0x{bad} at byte offset {exc.start})"
        ) from None
    return parse_toml(text, path)


def parse_toml(text: str, source: Path | str) -> dict[str, Any]:
    """The table in TOML `text` read from `source` (named in the one-line error)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{source}: invalid TOML ({_one_line(exc)})") from None


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a {what}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
