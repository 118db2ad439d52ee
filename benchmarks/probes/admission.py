"""admission: how many concurrent connections get a SYN-ACK, and do closing ones count?

Assumes: the device drops (or refuses) SYNs past its admission limit, and idle ESTABLISHED
connections stay open for the few seconds the probe needs.
Timeline, phase A (idle ESTABLISHED connections, one new 4-tuple each):
   > S ; < S. ; > .     admitted       (repeat up to N = max(8, limit+3, max_pcbs+2))
   > S ; (nothing 1 s)  dropped        L = admitted count; "none" when all N got in
   > S ; < R.           refused
   > R on every admitted connection    back to an empty device
Phase B (only when A found a limit L): L-1 connections closed by the device and left in
FIN_WAIT_2 (we ACK its FIN, never send ours), then new idle connections until one is not
admitted: M more get in.
   M == 1 -> closing PCBs count:  "active:L"       (Espressif SDK 1.5 tcp_listen_input)
   M == L -> only ESTABLISHED:    "established:L"  (SDK >= 2.0.0)
Measured: syn_admission as "none" | "active:L" | "established:L" (else "mixed:...").
Not measured (None) for apps that take one connection at a time (close modes modlwip,
bsd-socket, arduino-*): their accept queue holds the idle connections first (probe
accept_queue measures that), so the stack's own SYN rule cannot be told apart here.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from closebench.probes.conn import Conn
from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("syn_admission",)
SERIAL_APPS = ("modlwip", "bsd-socket", "arduino-2.7", "arduino-3.1")


def _fill(ctx: ProbeContext, limit: int) -> tuple[list[Conn], str]:
    """Open idle connections until one is not admitted; returns them and the last answer."""
    conns: list[Conn] = []
    for _ in range(limit):
        conn = ctx.conn()
        answer = conn.connect(timeout=1.0)
        if answer != "syn-ack":
            return conns, answer
        conns.append(conn)
    return conns, "syn-ack"


def _into_fin_wait_2(conn: Conn) -> bool:
    if conn.connect() != "syn-ack":
        return False
    conn.request()
    return conn.read_until_close(4.0).kind == "fin"


def run(ctx: ProbeContext) -> list[Observation]:
    if ctx.close_mode in SERIAL_APPS:
        return [
            Observation(
                "syn_admission",
                None,
                f"{ctx.close_mode}: the app's accept queue bounds idle connections before the "
                "stack's SYN admission (see accept_queue_overflow)",
            )
        ]
    limit = str(ctx.expect.get("syn_admission") or "none")
    stated = int(limit.partition(":")[2] or 0)
    max_pcbs = ctx.expect.get("max_pcbs")
    n = min(40, max(8, stated + 3, (max_pcbs if isinstance(max_pcbs, int) else 0) + 2))
    conns, stop = _fill(ctx, n)
    for conn in conns:
        conn.abort()
    admitted = len(conns)
    if stop == "syn-ack":
        return [
            Observation(
                "syn_admission",
                "none",
                f"all {n} idle connections admitted",
                data={"tried": n, "admitted": admitted},
            )
        ]
    if admitted < 2:
        return [
            Observation(
                "syn_admission",
                f"mixed:{admitted}",
                f"only {admitted} admitted (then {stop}): no room for phase B",
                data={"admitted": admitted, "stop": stop},
            )
        ]
    ctx.wire.trace.append("--- phase B: closing connections")
    closing = [ctx.conn() for _ in range(admitted - 1)]
    with ThreadPoolExecutor(len(closing)) as pool:
        ok = sum(pool.map(_into_fin_wait_2, closing))
    more, stop_b = _fill(ctx, admitted + 2)
    m = len(more)
    if ok == admitted - 1 and m == 1:
        measured = f"active:{admitted}"
    elif ok == admitted - 1 and m == admitted:
        measured = f"established:{admitted}"
    else:
        measured = f"mixed:{admitted}"
    return [
        Observation(
            "syn_admission",
            measured,
            f"{admitted} idle admitted, then {stop}; with {ok} in FIN_WAIT_2 {m} more admitted, "
            f"then {stop_b}",
            data={"admitted": admitted, "stop": stop, "closing": ok, "admitted_with_closing": m},
        )
    ]
