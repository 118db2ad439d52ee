"""Fake board consoles on pseudo-terminals, for tests and for trying the serial code without a
board: each speaks like the real firmware's console on the pty's master side, while the code
under test opens the slave path exactly as it would open /dev/ttyUSB0.

- FakeNodeMCU: echoes input, answers at the `> ` prompt (node.heap, file.*, node.restart).
- FakeMicroPython: friendly `>>> ` REPL plus the raw REPL framing mpremote expects.
- FakeArduino: prints `heap=<n>` lines among other log lines.
"""

from __future__ import annotations

import os
import re
import select
import threading
import time
import tty


class FakeConsole:
    def __init__(self, heap: int = 31234) -> None:
        self.heap = heap
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no line discipline: bytes pass exactly as on a USB-serial
        self.port = os.ttyname(self.slave)
        self.received = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> FakeConsole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self.master)
        os.close(self.slave)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def tick(self) -> None:
        """Called about every 20 ms even without input (for chatty consoles)."""

    def on_bytes(self, data: bytes) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.02)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    return
                self.received += data
                self.on_bytes(data)
            self.tick()


_LUA_ESCAPE = re.compile(r"\\(\d{1,3})")


class FakeNodeMCU(FakeConsole):
    """NodeMCU's Lua prompt: UART echo, `> ` after each line, `stdin:1:` errors."""

    def __init__(self, heap: int = 31234, boot_noise: bytes = b"") -> None:
        super().__init__(heap)
        self.files: dict[str, bytes] = {}
        self.open_file: str | None = None
        self.restarted = False
        self.commands: list[str] = []
        self.reject_writes = False  # answer file.write with an error quoting the whole line
        self._line = bytearray()
        self._last_cr = False
        if boot_noise:
            self.send(boot_noise)

    def on_bytes(self, data: bytes) -> None:
        for byte in data:
            ch = bytes([byte])
            if ch == b"\n" and self._last_cr:
                self._last_cr = False
                continue  # CR LF is one line end
            self._last_cr = ch == b"\r"
            if ch in (b"\r", b"\n"):
                line = self._line.decode("latin-1")
                self._line.clear()
                out = self._run(line)
                self.send(b"\r\n" + b"".join(o + b"\r\n" for o in out) + b"> ")
            else:
                self._line += ch
                self.send(ch)  # echo

    def _run(self, line: str) -> list[bytes]:
        if not line.strip():
            return []
        self.commands.append(line)
        if line == 'print("heap="..node.heap())':
            return [f"heap={self.heap}".encode()]
        if m := re.fullmatch(r'file\.remove\("([^"]+)"\)', line):
            self.files.pop(m.group(1), None)
            return []
        if m := re.fullmatch(
            r'print\(file\.open\("([^"]+)","w"\) and "open=ok" or "open=fail"\)', line
        ):
            self.open_file = m.group(1)
            self.files[self.open_file] = b""
            return [b"open=ok"]
        if self.reject_writes and line.startswith("file.write("):
            return [b"stdin:1: not enough memory near '" + line.encode("latin-1") + b"'"]
        if (m := re.fullmatch(r'file\.write\("(.*)"\)', line)) and self.open_file:
            body = _LUA_ESCAPE.sub(lambda e: chr(int(e.group(1))), m.group(1))
            self.files[self.open_file] += body.encode("latin-1")
            return []
        if line == "file.close()":
            self.open_file = None
            return []
        if m := re.fullmatch(r'print\("size="\.\.\(file\.list\(\)\["([^"]+)"\] or -1\)\)', line):
            return [f"size={len(self.files.get(m.group(1), b'')) or -1}".encode()]
        if line == "node.restart()":
            self.restarted = True
            return []
        return [b"stdin:1: unexpected symbol near '" + line[:8].encode("latin-1") + b"'"]


class FakeMicroPython(FakeConsole):
    """MicroPython's REPL: `>>> `, and the raw REPL as pyboard.py / mpremote drive it."""

    BANNER = b"raw REPL; CTRL-B to exit\r\n>"

    def __init__(self, heap: int = 31234) -> None:
        super().__init__(heap)
        self.raw = False
        self.code = bytearray()
        self.executed: list[str] = []

    def on_bytes(self, data: bytes) -> None:
        for byte in data:
            ch = bytes([byte])
            if not self.raw:
                if ch == b"\x01":
                    self.raw = True
                    self.code.clear()
                    self.send(b"\r\n" + self.BANNER)
                elif ch == b"\x03":
                    self.send(b"\r\nKeyboardInterrupt\r\n>>> ")
                elif ch == b"\r":
                    self.send(b"\r\n>>> ")
                continue
            if ch == b"\x02":
                self.raw = False
                self.send(b"\r\nMicroPython v1.28.0 on 2026-01-01; ESP module with ESP8266\r\n>>> ")
            elif ch == b"\x01":
                self.code.clear()
                self.send(self.BANNER)
            elif ch == b"\x04":
                if not self.code:
                    self.send(b"OK\x04\x04>")
                    continue
                code = self.code.decode()
                self.code.clear()
                self.executed.append(code)
                out, err = self._exec(code)
                self.send(b"OK" + out + b"\x04" + err + b"\x04>")
            elif ch == b"\x05":
                self.code += ch
            else:
                self.code += ch
                if self.code.endswith(b"\x05A\x01"):  # raw-paste query: say unsupported
                    del self.code[-3:]
                    self.send(b"R\x00")

    def _exec(self, code: str) -> tuple[bytes, bytes]:
        if code == 'import gc;print("heap=%d"%gc.mem_free())':
            return f"heap={self.heap}\r\n".encode(), b""
        return b"", b"Traceback (most recent call last):\r\nNameError: name not defined\r\n"


class FakeArduino(FakeConsole):
    """An Arduino / ESP-IDF app logging `heap=<n>` every `period` s among other lines."""

    def __init__(self, heap: int = 31234, period: float = 0.05) -> None:
        super().__init__(heap)
        self.period = period
        self._next = 0.0
        self._n = 0

    def on_bytes(self, data: bytes) -> None:
        pass  # the app ignores console input

    def tick(self) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.period
            self._n += 1
            self.send(f"conn closed n={self._n}\r\nheap={self.heap - self._n}\r\n".encode())
