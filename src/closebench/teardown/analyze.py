"""analyze_capture(): file -> one row per TCP connection + per-cell summary."""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from closebench.capture.chunk import ReadReport
from closebench.capture.headers import AddressBook, decode_chunk
from closebench.capture.linktypes import SUPPORTED_LINKTYPES, linktype_name, unsupported_linktype
from closebench.capture.pcapfile import iter_chunks
from closebench.errors import UserError
from closebench.teardown.classify import Parts, frame_part
from closebench.teardown.params import AnalysisParams
from closebench.teardown.rates import summarize
from closebench.teardown.tracker import Tracker


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
    allow_damaged: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> AnalysisResult:
    """allow_damaged: analyse the records before a damaged one instead of an error.
    progress(bytes_read, file_size) is called after each chunk."""
    return _analyze(
        path,
        device_ip=device_ip,
        load_stop=load_stop,
        params=params,
        report=ReadReport(allow_damaged=allow_damaged),
        progress=progress,
    )


def _foreign_links(linktype: np.ndarray, seen: Counter[int]) -> None:
    """Count records whose link type capture.headers cannot read (pcapng interfaces may differ)."""
    foreign = ~np.isin(linktype, list(SUPPORTED_LINKTYPES))
    if foreign.any():
        kinds, counts = np.unique(linktype[foreign], return_counts=True)
        seen.update(dict(zip(kinds.tolist(), counts.tolist(), strict=True)))


def _analyze(
    path: str | Path,
    *,
    device_ip: str | None,
    load_stop: float | None,
    params: AnalysisParams | None,
    report: ReadReport,
    progress: Callable[[int, int], None] | None,
) -> AnalysisResult:
    params = params or AnalysisParams()
    path = Path(path)
    if device_ip is not None:
        try:
            device_ip = str(ipaddress.ip_address(device_ip))
        except ValueError:
            raise UserError(f"--device-ip {device_ip!r} is not an IP address") from None
    book = AddressBook()
    parts = Parts()
    tracker = Tracker()

    def collect() -> None:
        # Finished connections become compact output columns at once (bounded memory).
        rec = tracker.collect()
        if rec is not None:
            parts.add(frame_part(rec, book, device_ip, load_stop, params))

    skipped = {"non_tcp": 0, "snaplen_cut": 0, "malformed": 0}
    foreign: Counter[int] = Counter()
    for chunk in iter_chunks(path, report, params.chunk_packets):
        _foreign_links(chunk.linktype, foreign)
        if progress is not None:
            progress(report.position, report.size)
        decoded = decode_chunk(chunk, book)
        skipped["non_tcp"] += decoded.skipped_non_tcp
        skipped["snaplen_cut"] += decoded.skipped_cut
        skipped["malformed"] += decoded.skipped_malformed
        tracker.feed(decoded)
        collect()
    tracker.finish()
    collect()
    df = parts.build()

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
    if foreign and tracker.packets == 0:
        raise unsupported_linktype(path, foreign.most_common(1)[0][0])
    for lt, count in sorted(foreign.items()):
        warnings.append(f"{count} records of unsupported link type {linktype_name(lt)} skipped")
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
