"""`closebench analyze CAPTURE`: per-connection teardown analysis of one capture."""

from __future__ import annotations

import argparse
from pathlib import Path

from closebench.errors import UserError

WORST = 10


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="classify how every TCP connection in a capture was closed",
        description="Write connections.parquet and the metrics.json 'analysis' section.",
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
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from closebench.analysis import analyze_capture, write_outputs
    from closebench.analysis.report import print_report

    if not args.capture.exists():
        raise UserError(f"{args.capture}: no such capture file")
    result = analyze_capture(args.capture, device_ip=args.device_ip, load_stop=args.load_stop)
    out_dir = args.out if args.out is not None else args.capture.resolve().parent
    parquet, metrics = write_outputs(result, out_dir)
    print_report(result, worst=WORST)
    print(f"wrote {parquet} and {metrics}")
    return 0
