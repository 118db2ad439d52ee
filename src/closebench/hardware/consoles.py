"""The firmware consoles spoken over a serial line: NodeMCU's Lua prompt and MicroPython's raw
REPL (the protocol mpremote uses). Both work on any object with pyserial's `read`, `write` and
`in_waiting`, so tests drive them against a pseudo-terminal that answers like the board.

Nothing here logs raw console traffic: the Lua prompt echoes every byte we send, including app
files holding the Wi-Fi password.
"""

from __future__ import annotations

import re
import time
from typing import Protocol

HEAP_LINE = re.compile(rb"heap=(\d+)")
LUA_PROMPT = b"\n> "
LUA_CONTINUATION = b"\n>> "
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_PROMPT = b">>> "


class ConsoleError(Exception):
    """The console did not answer as the firmware should (timeout, error, garbage)."""


class SerialLike(Protocol):
    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...


class Console:
    """Buffered reads with deadlines over a serial-like object."""

    def __init__(self, ser: SerialLike) -> None:
        self.ser = ser
        self.buf = bytearray()
        # Output drained between commands (e.g. `heap=` lines the app prints on its own),
        # kept for the poller; bounded so a chatty app cannot grow it without limit.
        self.stray = bytearray()

    def _fill(self) -> None:
        chunk = self.ser.read(max(1, self.ser.in_waiting))
        if chunk:
            self.buf += chunk

    def read_until(self, endings: tuple[bytes, ...], timeout: float) -> bytes:
        """Everything up to and including the earliest of `endings`; keeps the rest buffered."""
        deadline = time.monotonic() + timeout
        while True:
            hits = [(i, e) for e in endings if (i := self.buf.find(e)) >= 0]
            if hits:
                i, ending = min(hits)
                end = i + len(ending)
                data = bytes(self.buf[:end])
                del self.buf[:end]
                return data
            if time.monotonic() >= deadline:
                raise ConsoleError(f"no {endings[0]!r} within {timeout:g} s")
            self._fill()

    def drain(self, quiet: float = 0.1, limit: float = 2.0) -> bytes:
        """Read until the line has been quiet for `quiet` s (stale prompts, boot chatter)."""
        start = last = time.monotonic()
        while time.monotonic() - last < quiet and time.monotonic() - start < limit:
            before = len(self.buf)
            self._fill()
            if len(self.buf) != before:
                last = time.monotonic()
        data = bytes(self.buf)
        self.buf.clear()
        self.stray = (self.stray + data)[-65536:]
        return data

    def write(self, data: bytes) -> None:
        self.ser.write(data)


class LuaPrompt(Console):
    """NodeMCU's interactive Lua interpreter: `> ` prompt, input echoed, errors as `stdin:1:`."""

    def sync(self, timeout: float, nudge_every: float = 2.0) -> None:
        """Wait for a prompt, nudging with newlines; after flashing, the first boot formats the
        file system (about a minute on 4 MB) before the prompt appears."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.write(b"\r\n")
            try:
                self.read_until((LUA_PROMPT,), min(nudge_every, deadline - time.monotonic()))
            except ConsoleError:
                continue
            self.drain()
            return
        raise ConsoleError(f"no Lua prompt '> ' within {timeout:g} s")

    def run(self, command: str, timeout: float = 5.0) -> str:
        """Run one line; return its output (echo and prompt removed)."""
        if "\n" in command or "\r" in command:
            raise ValueError("one line at a time: the prompt runs each line on its own")
        self.drain(quiet=0.02, limit=0.5)
        self.write(command.encode() + b"\r\n")
        reply = self.read_until((LUA_PROMPT, LUA_CONTINUATION), timeout)
        if reply.endswith(LUA_CONTINUATION):
            self.write(b"\x03\r\n")  # best effort; the statement was incomplete
            raise ConsoleError("Lua statement incomplete ('>>' prompt)")
        text = reply[: -len(LUA_PROMPT)].decode("utf-8", "replace")
        lines = [ln.rstrip("\r") for ln in text.split("\n")]
        # Drop the echo of our own command (NodeMCU echoes input on the UART).
        if lines and lines[0].strip() == command.strip():
            lines = lines[1:]
        out = "\n".join(ln for ln in lines if ln.strip())
        for ln in out.splitlines():
            if ln.startswith(("stdin:", "lua:", "PANIC")):
                raise ConsoleError(f"Lua error: {ln}")
        return out

    def heap(self, timeout: float = 3.0) -> int:
        out = self.run('print("heap="..node.heap())', timeout)
        match = HEAP_LINE.search(out.encode())
        if not match:
            raise ConsoleError("no heap=<n> in the answer to node.heap()")
        return int(match.group(1))


class RawRepl(Console):
    """MicroPython's raw REPL, framed as mpremote expects (transport_serial.py):
    Ctrl-A -> banner `raw REPL; CTRL-B to exit\\r\\n>`; code + Ctrl-D -> `OK`, stdout, `\\x04`,
    stderr, `\\x04`, `>`; Ctrl-B leaves."""

    def enter(self, timeout: float = 5.0, interrupt: bool = False) -> None:
        # Unlike mpremote we neither soft-reset (Ctrl-D) nor, during a cell, interrupt
        # (Ctrl-C): either would stop the app under test.
        if interrupt:
            self.write(b"\r\x03")
            time.sleep(0.1)
        self.drain(quiet=0.05, limit=1.0)
        self.write(b"\r\x01")
        try:
            self.read_until((RAW_BANNER,), timeout)
        except ConsoleError:
            raise ConsoleError(
                "no raw REPL banner (is the app blocking the REPL? it must serve from "
                "socket callbacks or print heap=<n> lines)"
            ) from None

    def exec(self, code: str, timeout: float = 5.0) -> str:
        data = code.encode()
        for i in range(0, len(data), 256):  # mpremote's pacing: 256 bytes at a time
            self.write(data[i : i + 256])
        self.write(b"\x04")
        ok = self.read_until((b"OK",), timeout)
        if ok.strip(b">\r\n ") != b"OK":
            raise ConsoleError(f"raw REPL did not accept the code ({ok[-20:]!r})")
        out = self.read_until((b"\x04",), timeout)[:-1]
        err = self.read_until((b"\x04",), timeout)[:-1]
        self.read_until((b">",), timeout)
        if err.strip():
            raise ConsoleError("device error: " + err.decode("utf-8", "replace").strip()[-200:])
        return out.decode("utf-8", "replace")

    def exit(self) -> None:
        self.write(b"\r\x02")

    def heap(self, timeout: float = 3.0) -> int:
        # No gc.collect(): collecting would change the device's behaviour under test.
        out = self.exec('import gc;print("heap=%d"%gc.mem_free())', timeout)
        match = HEAP_LINE.search(out.encode())
        if not match:
            raise ConsoleError("no heap=<n> in the answer to gc.mem_free()")
        return int(match.group(1))

    def wait_friendly(self, timeout: float, nudge_every: float = 1.0) -> None:
        """Wait for `>>> ` after boot (first boot creates the file system)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.write(b"\r\n")
            try:
                self.read_until((FRIENDLY_PROMPT,), min(nudge_every, deadline - time.monotonic()))
            except ConsoleError:
                continue
            self.drain(quiet=0.05)
            return
        raise ConsoleError(f"no MicroPython prompt '>>> ' within {timeout:g} s")
