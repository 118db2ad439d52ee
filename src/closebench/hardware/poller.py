"""Serial resource poller: during a cell, sample the board's free heap into device.csv.

Three console styles (FlashPlan.console):
- `nodemcu-lua`: send `print("heap="..node.heap())` at the `> ` prompt;
- `micropython`: raw REPL (Ctrl-A, code, Ctrl-D; framing as mpremote) running
  `import gc;print("heap=%d"%gc.mem_free())`; the REPL is entered once and left at stop;
- `heap-lines`: Arduino / ESP-IDF apps print `heap=<n>` lines themselves; we only listen.
`heap=<n>` lines the app prints on its own are recorded in every style.

Rows carry `epoch_s,t_ms,reason,heap_free`; the other device.csv columns (results/README.md)
belong to the emulated device and stay empty.
"""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path
from typing import IO

from closebench.hardware.consoles import HEAP_LINE, Console, ConsoleError, LuaPrompt, RawRepl
from closebench.hardware.consoles import SerialLike as SerialLike
from closebench.schema import HARDWARE_DEVICE_CSV_COLUMNS

STYLES = ("nodemcu-lua", "micropython", "heap-lines")


class SerialPoller:
    """Background thread writing one device.csv row per heap sample; `stop()` ends it."""

    def __init__(self, ser: SerialLike, style: str, out_csv: Path, interval_s: float = 1.0) -> None:
        if style not in STYLES:
            raise ValueError(f"unknown console style {style!r}")
        self.ser = ser
        self.style = style
        self.out_csv = out_csv
        self.interval_s = interval_s
        self.rows = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="serial-poller", daemon=True)
        self._t0 = 0.0

    def start(self) -> SerialPoller:
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def __enter__(self) -> SerialPoller:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _row(self, writer: csv.DictWriter, fh: IO[str], heap: int) -> None:
        writer.writerow(
            {
                "epoch_s": f"{time.time():.3f}",
                # Since polling started: the board's own uptime is not on a shared clock.
                "t_ms": int((time.monotonic() - self._t0) * 1000),
                "reason": "tick",
                "heap_free": heap,
            }
        )
        fh.flush()  # an interrupted cell keeps every sample taken so far
        self.rows += 1

    def _unsolicited(self, console: Console, writer: csv.DictWriter, fh: IO[str]) -> None:
        for match in HEAP_LINE.finditer(bytes(console.stray)):
            self._row(writer, fh, int(match.group(1)))
        console.stray.clear()

    def _main(self) -> None:
        self.out_csv.parent.mkdir(parents=True, exist_ok=True)
        with self.out_csv.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=HARDWARE_DEVICE_CSV_COLUMNS, restval="")
            writer.writeheader()
            fh.flush()
            try:
                if self.style == "heap-lines":
                    self._listen(writer, fh)
                else:
                    self._ask(writer, fh)
            except (ConsoleError, OSError) as exc:
                self.error = f"{type(exc).__name__}: {exc}"

    def _listen(self, writer: csv.DictWriter, fh: IO[str]) -> None:
        console = Console(self.ser)
        while not self._stop.is_set():
            try:
                line = console.read_until((b"\n",), 0.2)
            except ConsoleError:
                continue
            match = HEAP_LINE.search(line)
            if match:
                self._row(writer, fh, int(match.group(1)))

    def _ask(self, writer: csv.DictWriter, fh: IO[str]) -> None:
        console: LuaPrompt | RawRepl
        if self.style == "nodemcu-lua":
            console = LuaPrompt(self.ser)
            console.sync(timeout=10.0)
        else:
            console = RawRepl(self.ser)
            console.enter(timeout=5.0)
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                heap = console.heap()
                self._unsolicited(console, writer, fh)
                self._row(writer, fh, heap)
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
        finally:
            if isinstance(console, RawRepl):
                console.exit()
