"""accept_queue: what the first client past the app's accept queue gets.

Assumes: an app that serves one connection at a time keeps the first (silent) client for
several seconds (MicroPython settimeout(5), ESP8266WebServer 5 s, ESP-IDF recv without
timeout), longer than this probe needs (~4 s). lwIP with TCP_LISTEN_BACKLOG drops SYNs once
`backlog` accepted connections wait (tcp_backlog_delayed); MicroPython's modlwip instead
refuses the connection in its accept callback (ERR_BUF) and lwIP aborts it: RST.
Timeline (one new 4-tuple per client, none sends a request, N = 10):
   > S ; < S. ; > .  ; 0.3 s quiet      admitted (served or queued)
   > S ; < S. ; > .  ; < R.             "rst"          refused by the app after the handshake
   > S ; < R.                           "rst"
   > S ; nothing for 1 s                "syn_dropped"  listen backlog (or SYN admission) full
   > R on every admitted connection at the end.
Measured: accept_queue_overflow = "none" when all N were admitted, else "<answer>:K" with K
the clients admitted before it. The detail names admitted clients the device closed meanwhile
(ESP8266WebServer 3.1 drops a silent client once 5 others wait).
"""

from __future__ import annotations

from closebench.probes.conn import Conn
from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("accept_queue_overflow",)
N = 10
QUIET_S = 0.3


def _admit(conn: Conn) -> str:
    """'ok', 'rst' or 'syn_dropped' for one new client."""
    answer = conn.connect(timeout=1.0)
    if answer == "silent":
        return "syn_dropped"
    if answer == "rst":
        return "rst"
    seg = conn.wait(lambda s: s.has("R") or s.has("F"), QUIET_S)
    if seg is not None and seg.has("R"):
        return "rst"
    return "ok"


def _closed_meanwhile(conns: list[Conn]) -> list[int]:
    """1-based indexes of admitted clients the device sent a FIN or RST to."""
    return [i + 1 for i, c in enumerate(conns) if any(s.has("F") or s.has("R") for s in c.drain())]


def run(ctx: ProbeContext) -> list[Observation]:
    admitted: list[Conn] = []
    stop = "ok"
    for _ in range(N):
        conn = ctx.conn()
        stop = _admit(conn)
        if stop != "ok":
            break
        admitted.append(conn)
    closed = _closed_meanwhile(admitted)
    for conn in admitted:
        conn.abort()
    k = len(admitted)
    measured = "none" if stop == "ok" else f"{stop}:{k}"
    note = f"; the device closed client(s) {closed} meanwhile" if closed else ""
    what = f"all {N} admitted" if stop == "ok" else f"{k} admitted, then {stop}"
    return [
        Observation(
            "accept_queue_overflow",
            measured,
            what + note,
            data={"admitted": k, "stop": stop, "closed_by_device": closed},
        )
    ]
