"""heap_exhaustion: what the stack does when its heap runs out under a burst of connections.

Assumes: the device runs with the variant's heap budget ([heap], --heap-bytes) and writes its
device.csv (heap_free, alloc_fail), which the probe reads to learn when an allocation first
failed: the wire alone cannot tell an empty heap from an admission rule or a PCB cap.
Timeline, one new 4-tuple per step (up to MAX_STEPS, within max_observe_s):
   > S ; < S. ; > . ; > P. request ; < response (never ACKed)
   each served connection keeps its PCB and its unACKed response on the heap
   ... until device.csv shows the first failed allocation, then MORE_STEPS more steps
Outcome of a step: "served" (a response byte within RESPONSE_S), "syn_dropped" (no SYN-ACK
within SYN_S), "rst" (RST to the SYN or after the request), "stall" (SYN-ACK, no response).
Measured: heap_exhaustion as
   the first outcome other than "served" at or after the first failed allocation, or
   "absorbed" when every step after it was still served (the stack reclaimed memory);
   "refused_first:<outcome>" when a step was not served before any allocation failed (an
   admission rule, a PCB cap or the app's accept queue bounds a burst before the heap);
   "not_reached" when MAX_STEPS (or max_observe_s of steps) were served with no failed
   allocation (apps that serve one client per 2 s, arduino-2.7, need --max-observe ~100).
Not measured (None) without a heap budget (heap_free empty) or without device.csv.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from closebench.probes.conn import Conn
from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("heap_exhaustion",)
MAX_STEPS = 400
MORE_STEPS = 3
SYN_S = 1.0
RESPONSE_S = 2.5
ROW_WAIT_S = 2.0  # device.csv gets a flushed tick row every 100 ms


def _last_row(path: Path, after: float) -> dict[str, str] | None:
    """The newest device.csv row stamped after `after`; waits for the device to write it."""
    deadline = time.monotonic() + ROW_WAIT_S
    while time.monotonic() < deadline:
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            lines = []
        if len(lines) > 1:
            header = next(csv.reader([lines[0]]))
            for line in reversed(lines[1:]):
                row = dict(zip(header, next(csv.reader([line])), strict=False))
                if len(row) == len(header):
                    if float(row["epoch_s"]) >= after:
                        return row
                    break
        time.sleep(0.05)  # polling the file the device appends to; the row is the signal
    return None


def _step(conn: Conn) -> str:
    answer = conn.connect(timeout=SYN_S)
    if answer != "syn-ack":
        return "syn_dropped" if answer == "silent" else "rst"
    conn.request()
    seg = conn.wait(lambda s: s.has("R") or bool(s.payload), RESPONSE_S)
    if seg is None:
        return "stall"
    return "rst" if seg.has("R") else "served"


def _heap(row: dict[str, str] | None) -> tuple[int | None, int]:
    if row is None:
        return None, 0
    free = row.get("heap_free", "")
    return (int(free) if free else None), int(row.get("alloc_fail") or 0)


def run(ctx: ProbeContext) -> list[Observation]:
    if not ctx.device_csv:
        return [Observation("heap_exhaustion", None, "no device.csv to read the heap from")]
    path = Path(ctx.device_csv)
    start_free, fails0 = _heap(_last_row(path, 0.0))
    if start_free is None:
        return [Observation("heap_exhaustion", None, "no heap budget ([heap]): heap_free empty")]
    started = ctx.now()
    outcomes: list[str] = []
    failed_at: int | None = None
    free = start_free
    while len(outcomes) < MAX_STEPS and ctx.since(started) < ctx.max_observe_s:
        t = time.time()
        outcome = _step(ctx.conn())
        outcomes.append(outcome)
        now_free, fails = _heap(_last_row(path, t))
        free = now_free if now_free is not None else free
        if failed_at is None and fails > fails0:
            failed_at = len(outcomes) - 1
        if failed_at is None and outcome != "served":
            return [_result(f"refused_first:{outcome}", outcomes, start_free, free, None)]
        if failed_at is not None and len(outcomes) > failed_at + MORE_STEPS:
            break
    if failed_at is None:
        return [_result("not_reached", outcomes, start_free, free, None)]
    after = [o for o in outcomes[failed_at:] if o != "served"]
    return [_result(after[0] if after else "absorbed", outcomes, start_free, free, failed_at)]


def _result(
    measured: str, outcomes: list[str], start: int, free: int, failed_at: int | None
) -> Observation:
    served = outcomes.count("served")
    where = (
        f"first failed allocation at step {failed_at + 1}"
        if failed_at is not None
        else ("no failed allocation")
    )
    return Observation(
        "heap_exhaustion",
        measured,
        f"{len(outcomes)} steps, {served} served; heap {start} -> {free} bytes free; {where}",
        data={"outcomes": outcomes, "heap_start": start, "heap_end": free, "failed_at": failed_at},
    )
