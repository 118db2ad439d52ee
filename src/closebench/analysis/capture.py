"""analyze_capture(): file -> one row per TCP connection + per-cell summary."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from closebench.analysis.capture_reader import ReadReport, iter_chunks
from closebench.analysis.classify import COLUMNS, conn_row, rows_frame
from closebench.analysis.decode import AddressBook, decode_chunk
from closebench.analysis.params import AnalysisParams
from closebench.analysis.summary import summarize
from closebench.analysis.tracker import Conn, Tracker
from closebench.errors import UserError

# Finished connections are turned into typed frames in batches to keep memory flat.
ROW_BATCH = 50_000


@dataclass
class AnalysisResult:
    connections: pd.DataFrame
    summary: dict[str, Any]
    packets: int  # records in the file
    tcp_packets: int
    skipped: int  # records that are not analysable TCP (non-TCP, cut, malformed)
    skipped_detail: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    source: str = ""


def analyze_capture(
    path: str | Path,
    *,
    device_ip: str | None = None,
    load_stop: float | None = None,
    params: AnalysisParams | None = None,
) -> AnalysisResult:
    params = params or AnalysisParams()
    path = Path(path)
    if device_ip is not None:
        try:
            device_ip = str(ipaddress.ip_address(device_ip))
        except ValueError:
            raise UserError(f"--device-ip {device_ip!r} is not an IP address") from None
    book = AddressBook()
    rows: list[tuple] = []
    frames: list[pd.DataFrame] = []

    def done(conn: Conn) -> None:
        rows.append(conn_row(conn, book, device_ip, load_stop, params))
        if len(rows) >= ROW_BATCH:
            frames.append(rows_frame(rows))
            rows.clear()

    tracker = Tracker(done)
    report = ReadReport()
    skipped = {"non_tcp": 0, "snaplen_cut": 0, "malformed": 0}
    for chunk in iter_chunks(path, report, params.chunk_packets):
        decoded = decode_chunk(chunk, book)
        skipped["non_tcp"] += decoded.skipped_non_tcp
        skipped["snaplen_cut"] += decoded.skipped_cut
        skipped["malformed"] += decoded.skipped_malformed
        tracker.feed(decoded)
    tracker.finish()
    if rows:
        frames.append(rows_frame(rows))
    df = (
        pd.concat(frames, ignore_index=True)
        if frames
        else rows_frame([]).reindex(columns=list(COLUMNS))
    )
    # Port-reuse splits finish connections out of stream order; present them in order.
    df = df.sort_values("conn_id", kind="stable").reset_index(drop=True)

    warnings = list(report.warnings)
    if skipped["snaplen_cut"]:
        warnings.append(
            f"{skipped['snaplen_cut']} packets cut by the snap length before the end of "
            "their TCP header were skipped (capture with a larger -s)"
        )
    if skipped["malformed"]:
        warnings.append(f"{skipped['malformed']} malformed IP/TCP packets were skipped")
    if report.records == 0:
        raise UserError(f"{path}: capture contains no packets")
    if tracker.packets == 0:
        warnings.append(f"{path}: no TCP packets among {report.records} records")
    n_skipped = report.records - tracker.packets
    return AnalysisResult(
        connections=df,
        summary=summarize(df, report.records, n_skipped, params),
        packets=report.records,
        tcp_packets=tracker.packets,
        skipped=n_skipped,
        skipped_detail=skipped,
        warnings=warnings,
        source=str(path),
    )
