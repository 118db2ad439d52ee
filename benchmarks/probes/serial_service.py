"""serial_service: does a second client wait while the app serves (or waits on) the first?

Assumes: the apps that take one connection at a time (MicroPython's and ESP-IDF's accept
loops, ESP8266WebServer::handleClient) keep a silent first client longer than 2.5 s, and
answer a request in well under a second once they take its connection.
Timeline, phase 1 (behaviour serial_service), A silent, B with a request:
   0     A: > S ; < S. ; > .               A is taken first and sends nothing
   0.3   B: > S ; < S. ; > . ; > P. request
         B: < data first, A untouched        -> "concurrent"         (event-driven apps)
         A: < F. or < R. , then B: < data    -> "after_device_close" (app gave up on A for B)
   2.8   A: > F. (client closes A) ; B: < data -> "after_client_close" (B waited for A)
Phase 2 (behaviour queued_behind_served_s), C and D both with requests:
   0     C: handshake ; D: handshake ; C: > P. request ; D: > P. request
         C: < data (ACKed, C stays open) ... D: < data
   measured = D's first response byte - C's first response byte (>= 0): ESP8266WebServer 2.7
   keeps C in HC_WAIT_CLOSE for up to 2 s; 3.1 ends that wait as soon as D is queued.
Every connection is reset at the end of its phase.
"""

from __future__ import annotations

import time

from closebench.probes.conn import Conn
from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("serial_service", "queued_behind_served_s")
CLIENT_CLOSE_AT_S = 2.5
AFTER_CLOSE_WAIT_S = 3.0
PHASE2_WAIT_S = 5.0


def _first(conn: Conn, pred, timeout: float):  # type: ignore[no-untyped-def]
    return conn.wait(pred, timeout)


def _watch(a: Conn, b: Conn, until: float) -> tuple[float | None, float | None]:
    """Until `until`: (time A was closed by the device, time B got response data)."""
    a_closed = b_data = None
    while time.monotonic() < until and b_data is None:
        seg = a.recv(0.02)
        if seg is not None and (seg.has("F") or seg.has("R")) and a_closed is None:
            a_closed = seg.t
        seg = b.recv(0.02)
        if seg is not None and seg.payload:
            b_data = seg.t
    if b_data is not None and a_closed is None:
        # One read per connection per turn: B's answer can be read before a FIN or RST on A
        # that the device sent first. The receive stamps, not the reading order, decide.
        while (seg := a.recv(0.05)) is not None:
            if (seg.has("F") or seg.has("R")) and seg.t <= b_data:
                a_closed = seg.t
                break
    return a_closed, b_data


def _phase1(ctx: ProbeContext) -> Observation:
    a, b = ctx.conn(), ctx.conn()
    if a.connect() != "syn-ack":
        return Observation("serial_service", None, "the device did not accept client A")
    time.sleep(0.3)
    if b.connect() != "syn-ack":
        a.abort()
        return Observation("serial_service", None, "the device did not accept client B")
    t = b.request()
    a_closed, b_data = _watch(a, b, time.monotonic() + CLIENT_CLOSE_AT_S)
    client_closed = None
    if b_data is None:
        client_closed = a.send("FA")
        a_more, b_data = _watch(a, b, time.monotonic() + AFTER_CLOSE_WAIT_S)
        a_closed = a_closed or a_more
    a.abort()
    b.abort()
    if b_data is None:
        return Observation("serial_service", None, "B got no answer, even after A closed")
    delay = f"B answered {b_data - t:.3f} s after its request"
    if client_closed is not None and (a_closed is None or a_closed >= client_closed):
        return Observation("serial_service", "after_client_close", f"{delay}, after we closed A")
    if a_closed is not None and a_closed <= b_data:
        return Observation(
            "serial_service",
            "after_device_close",
            f"{delay}; the device closed A {a_closed - t:.3f} s after B's request",
        )
    return Observation("serial_service", "concurrent", f"{delay} while A stayed open")


def _phase2(ctx: ProbeContext) -> Observation:
    c, d = ctx.conn(), ctx.conn()
    if c.connect() != "syn-ack" or d.connect() != "syn-ack":
        c.abort()
        d.abort()
        return Observation("queued_behind_served_s", None, "the device did not accept C and D")
    c.request()
    d.request()
    out = c.read_until_close(PHASE2_WAIT_S)  # ACKs C's data; returns at C's FIN/RST or timeout
    seg = _first(d, lambda s: bool(s.payload), PHASE2_WAIT_S)
    c.abort()
    d.abort()
    if out.data_t is None or seg is None:
        return Observation("queued_behind_served_s", None, "C or D got no answer")
    gap = round(max(0.0, seg.t - out.data_t), 3)
    return Observation(
        "queued_behind_served_s",
        gap,
        f"D's answer {gap:.3f} s after C's; C ended with {out.kind}",
        data={"c_close": out.kind},
    )


def run(ctx: ProbeContext) -> list[Observation]:
    first = _phase1(ctx)
    ctx.wire.trace.append("--- phase 2: a request queued behind a served client")
    return [first, _phase2(ctx)]
