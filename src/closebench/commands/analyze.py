"""`closebench analyze CAPTURE`: per-connection teardown analysis of one capture."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from closebench.errors import UserError

WORST = 10
# Below this a capture is analysed in about a second: no progress bar.
PROGRESS_BYTES = 4 << 20


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="classify how every TCP connection in a capture was closed",
        description="Classify how every TCP connection in a pcap/pcapng capture was closed; "
        "write connections.parquet and the metrics.json 'analysis' section (both replaced "
        "only when the analysis succeeds).",
    )
    p.add_argument("capture", type=Path, help="pcap or pcapng file")
    p.add_argument("--device-ip", metavar="ADDR", help="address of the device under test")
    p.add_argument(
        "--load-stop",
        metavar="EPOCH_S",
        type=float,
        help="capture-clock time the load stopped (for after_load_ms, duels)",
    )
    p.add_argument(
        "--out", metavar="DIR", type=Path, help="output folder (default: the capture's folder)"
    )
    p.add_argument(
        "--allow-damaged",
        action="store_true",
        help="analyse the records before a damaged record instead of refusing the file "
        "(tshark's 'appears to be damaged or corrupt')",
    )
    p.set_defaults(func=handler)


@contextmanager
def _progress(size: int) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr for captures above PROGRESS_BYTES, fed by the reader."""
    if size < PROGRESS_BYTES:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    with Progress(
        "analysing",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("analyse", total=size)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def handler(args: argparse.Namespace) -> int:
    from closebench.capture.pcapfile import check_capture_path
    from closebench.teardown import analyze_capture, write_outputs
    from closebench.teardown.console import print_report

    if args.load_stop is not None and not math.isfinite(args.load_stop):
        # nan / inf would silently poison every after-load time and duel decision.
        raise UserError(f"--load-stop must be a finite capture-clock time, got {args.load_stop}")
    size = check_capture_path(args.capture)
    with _progress(size) as progress:
        result = analyze_capture(
            args.capture,
            device_ip=args.device_ip,
            load_stop=args.load_stop,
            allow_damaged=args.allow_damaged,
            progress=progress,
        )
    out_dir = args.out if args.out is not None else args.capture.resolve().parent
    parquet, metrics = write_outputs(result, out_dir)
    print_report(result, worst=WORST)
    print(f"wrote {parquet} and {metrics}")
    return 0
