"""The Linux reference device: a kernel-TCP HTTP server with the seed's pages.

It runs inside its own network namespace (the control variant): the same LED page as the
emulated firmware, `Connection: close`, and the server closes after each response, as the
NodeMCU app does. Its resource timeline comes from the kernel's own socket table
(/proc/net/tcp of this namespace), in the same device.csv columns as the lwIP device.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import signal
import sys
import time
from pathlib import Path
from typing import Any

from closebench.schema import DEVICE_CSV_COLUMNS

STATES = {  # /proc/net/tcp "st" codes -> device.csv columns
    "01": "established",
    "03": "syn_rcvd",
    "04": "fin_wait_1",
    "05": "fin_wait_2",
    "06": "time_wait",
    "08": "close_wait",
    "09": "last_ack",
    "0A": "listen",
    "0B": "closing",
}


class Led:
    on = False


def page(led_on: bool) -> bytes:
    state = "ON" if led_on else "OFF"
    return (
        "<html><head><title>ESP LED</title></head><body>"
        f"<h1>LED is {state}</h1>"
        '<p><a href="/?led=on"><button>ON</button></a>'
        '<a href="/?led=off"><button>OFF</button></a></p>'
        "</body></html>"
    ).encode()


def respond(request: bytes) -> bytes:
    """Answer one request the way the firmware apps do: 200 / 404 / 400, then close."""
    line = request.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return _reply("400 Bad Request", b"bad request\n", head=False)
    method, target, _ = parts
    if method not in ("GET", "HEAD"):
        return _reply("400 Bad Request", b"bad request\n", head=False)
    path, _, query = target.partition("?")
    if path != "/":
        return _reply("404 Not Found", b"not found\n", head=method == "HEAD")
    if query == "led=on":
        Led.on = True
    elif query == "led=off":
        Led.on = False
    return _reply("200 OK", page(Led.on), head=method == "HEAD")


def _reply(status: str, body: bytes, *, head: bool) -> bytes:
    header = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/html\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return header if head else header + body


class HttpOnce(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\r\n\r\n" in self.buf or len(self.buf) > 4096:
            self.transport.write(respond(self.buf))  # type: ignore[attr-defined]
            self.transport.close()  # the server closes first, like the firmware apps


def socket_states(port: int) -> dict[str, int]:
    counts = dict.fromkeys(STATES.values(), 0)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) != port:
                continue
            name = STATES.get(fields[3])
            if name:
                counts[name] += 1
    return counts


def _write_row(out: Any, start: float, reason: str, counts: dict[str, int]) -> None:
    row = {
        "epoch_s": f"{time.time():.6f}",
        "t_ms": int((time.monotonic() - start) * 1000),
        "reason": reason,
        "led": int(Led.on),
        "pcbs": sum(v for k, v in counts.items() if k != "listen"),
        **counts,
    }
    out.writerow([row.get(c, "") for c in DEVICE_CSV_COLUMNS])


async def timeline(path: Path, port: int, interval_s: float) -> None:
    start = time.monotonic()
    last: tuple[int, ...] | None = None
    next_tick = start
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(DEVICE_CSV_COLUMNS)
        try:
            while True:
                counts = socket_states(port)
                key = (*counts.values(), int(Led.on))
                now = time.monotonic()
                reason = "tick" if now >= next_tick else ("change" if key != last else "")
                if reason:
                    _write_row(out, start, reason, counts)
                    fh.flush()
                    last = key
                    if reason == "tick":
                        next_tick += interval_s
                await asyncio.sleep(0.02)
        finally:
            # the final state as the server stops, so the file ends on the truth (as cbdev's
            # timeline does): a change in the last 20 ms is not lost
            _write_row(out, start, "tick", socket_states(port))


async def serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(HttpOnce, host="0.0.0.0", port=args.port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = []
    if args.timeline:
        tasks.append(
            asyncio.create_task(timeline(args.timeline, args.port, args.timeline_ms / 1e3))
        )
    print(f"reference ready port={args.port}", flush=True)
    with contextlib.suppress(TimeoutError):  # --duration-s: the safety bound
        await asyncio.wait_for(stop.wait(), timeout=args.duration_s)
    server.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)  # the timeline's final row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--timeline", type=Path)
    parser.add_argument("--timeline-ms", type=int, default=100)
    parser.add_argument("--duration-s", type=float, default=3600)
    asyncio.run(serve(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
