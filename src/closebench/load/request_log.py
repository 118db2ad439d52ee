"""requests.csv: one row per request, as the locust processes write it.

Rows are buffered: a write per request would cost more than the request. The only process,
or the master, appends them to a part file of its own (`requests.csv.part-<part>`, merged
after the run by closebench.load.outputs); a worker hands them to the master instead
(closebench.load.worker_messages).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TextIO

REQUESTS_COLUMNS = ("start_epoch_s", "latency_ms", "ok", "error_kind", "local_port", "name")
REQUESTS_HEADER = ",".join(REQUESTS_COLUMNS) + "\n"


def request_row(
    name: str, latency_ms: float, error: Exception | None, start_epoch_s: float, local_port: object
) -> str:
    """One request's row; a failure's kind is the load client's (`other` for any other error)."""
    kind = getattr(error, "kind", "other") if error else ""
    ok = 0 if error else 1
    return f"{start_epoch_s:.6f},{latency_ms:.3f},{ok},{kind},{local_port},{name}\n"


class RequestLog:
    """The rows of one locust process, buffered until FLUSH_ROWS or the end of the run."""

    FLUSH_ROWS = 5000

    def __init__(self, target: str | None) -> None:
        self.target = target  # requests.csv; None on a worker, which sends its rows instead
        self.rows: list[str] = []
        self.parts: dict[str, TextIO] = {}  # open part files, kept open for the whole run
        self.lock = threading.Lock()
        self.sent = 0  # on a worker: rows sent to the master so far

    def add(self, row: str) -> bool:
        """Buffer a row; True when the buffer is full and wants a flush."""
        self.rows.append(row)
        return len(self.rows) >= self.FLUSH_ROWS

    def take_for_sending(self) -> list[str]:
        rows, self.rows = self.rows, []
        self.sent += len(rows)
        return rows

    def write_own_rows(self) -> None:
        """The only process, or the master: append the buffered rows to its part file."""
        if self.target is None or not self.rows:
            return
        with self.lock:
            rows, self.rows = self.rows, []
            self.write_part(str(os.getpid()), rows)

    def write_part(self, part: str, rows: list[str]) -> None:
        """Append rows to requests.csv.part-<part> (finalize_load_outputs merges the parts)."""
        fh = self.parts.get(part)
        if fh is None:
            fh = self.parts[part] = Path(f"{self.target}.part-{part}").open("w")  # noqa: SIM115
            fh.write(REQUESTS_HEADER)
        fh.write("".join(rows))
        fh.flush()
