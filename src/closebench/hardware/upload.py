"""Putting the app on the board with placeholders filled.

NodeMCU: we drive the Lua prompt ourselves over pyserial instead of calling nodemcu-uploader:
it is not a dependency of closebench (Python 2-era, unmaintained), the same prompt code is
needed anyway for heap polling, the filled file (with the Wi-Fi password) then never touches
the disk, and the protocol can be tested against a pseudo-terminal.

MicroPython: `mpremote connect PORT fs cp FILE :DEST + ... + reset` (the documented tool); the
filled copy lives in a private temporary directory that is removed afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from closebench.errors import UserError
from closebench.hardware.consoles import ConsoleError, LuaPrompt
from closebench.hardware.plan import FlashPlan, UploadFile
from closebench.hardware.secrets import Secrets, fill_placeholders

# The Lua prompt reads one line into a small buffer (LUA_MAXINPUT 256 in NodeMCU's lua.c) fed
# by a 256-byte UART ring; short lines with a prompt round-trip each never overrun either.
LUA_CHUNK_CHARS = 96
NODEMCU_BOOT_TIMEOUT_S = 120.0  # first boot after an erase formats SPIFFS (about a minute)

Runner = Callable[..., subprocess.CompletedProcess]


def filled_app(plan: FlashPlan, values: dict[str, str]) -> list[tuple[UploadFile, bytes]]:
    """App files with placeholders filled, in memory only."""
    out = []
    for up in plan.uploads:
        try:
            text = up.source.read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"app file {up.source}: {exc.strerror}") from None
        out.append((up, fill_placeholders(text, values, str(up.source)).encode()))
    return out


def lua_chunks(data: bytes, limit: int = LUA_CHUNK_CHARS) -> list[str]:
    """Split `data` into Lua string literal bodies of at most ~`limit` characters.

    Decimal escapes (`\\ddd`, valid in Lua 5.1 and 5.3) carry quotes, backslashes, newlines
    and non-ASCII bytes, so each literal stays on one line of the prompt."""
    chunks, cur = [], ""
    for byte in data:
        ch = chr(byte)
        piece = ch if 0x20 <= byte < 0x7F and ch not in '"\\' else f"\\{byte:03d}"
        if len(cur) + len(piece) > limit:
            chunks.append(cur)
            cur = ""
        cur += piece
    if cur or not chunks:
        chunks.append(cur)
    return chunks


def upload_nodemcu(
    console: LuaPrompt,
    files: Sequence[tuple[UploadFile, bytes]],
    boot_timeout: float = NODEMCU_BOOT_TIMEOUT_S,
    restart: bool = True,
) -> None:
    console.sync(boot_timeout)
    for up, data in files:
        name = up.dest.replace('"', "")
        # Remove first: "w" truncates on current NodeMCU, but SPIFFS on 2016 builds could keep
        # stale tail bytes when a file was rewritten shorter.
        console.run(f'file.remove("{name}")')
        opened = console.run(f'print(file.open("{name}","w") and "open=ok" or "open=fail")')
        if "open=ok" not in opened:
            raise ConsoleError(f"cannot open {name} for writing on the device")
        chunks = lua_chunks(data)
        for i, chunk in enumerate(chunks, 1):
            try:
                console.run(f'file.write("{chunk}")')
            except ConsoleError:
                # Not the device's message: it would quote our line, i.e. app text that may
                # hold the Wi-Fi password.
                raise ConsoleError(f"writing {name} failed at chunk {i}/{len(chunks)}") from None
        console.run("file.close()")
        size = console.run(f'print("size="..(file.list()["{name}"] or -1))')
        if f"size={len(data)}" not in size:
            raise ConsoleError(f"{name} on the device has the wrong size ({size.strip()!r})")
    if restart:
        # No prompt comes back: the board reboots into the new init.lua.
        console.write(b"node.restart()\r\n")


def mpremote_argv(port: str, files: Sequence[tuple[Path, str]]) -> list[str]:
    argv = ["connect", port]
    for src, dest in files:
        argv += ["fs", "cp", str(src), f":{dest}", "+"]
    return [*argv, "reset"]


def upload_mpremote(
    plan: FlashPlan,
    files: Sequence[tuple[UploadFile, bytes]],
    secrets: Secrets,
    runner: Runner = subprocess.run,
    mpremote: Sequence[str] = (sys.executable, "-m", "mpremote"),
    timeout: float = 120.0,
) -> None:
    # mkdtemp makes a 0700 directory; files inside are created 0600 and the whole directory
    # goes away in `finally`, also when mpremote fails.
    with tempfile.TemporaryDirectory(prefix="closebench-app-") as tmp:
        staged = []
        for up, data in files:
            path = Path(tmp) / up.dest
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            staged.append((path, up.dest))
        argv = [*mpremote, *mpremote_argv(plan.board.port, staged)]
        try:
            proc = runner(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except FileNotFoundError:
            raise UserError(
                f"mpremote not found ({argv[0]}); install it: pip install mpremote"
            ) from None
        except subprocess.TimeoutExpired:
            raise UserError(
                f"mpremote timed out after {timeout:g} s on {plan.board.port}"
            ) from None
    if proc.returncode != 0:
        tail = secrets.redact((proc.stderr or proc.stdout or "").strip())[-300:]
        raise UserError(f"mpremote failed (exit {proc.returncode}): {tail}")
