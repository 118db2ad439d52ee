"""rst_validation: which RSTs does an ESTABLISHED connection accept (RFC 5961 section 3)?

Assumes: an idle ESTABLISHED connection; steps 0.7 s apart (Linux rate-limits challenge and
out-of-window ACKs to one per 500 ms per socket). rcv_nxt = the device's next expected seq.
Timeline:
   0     > S ; < S. ; > .
   0.3   > R seq=rcv_nxt+10^7         out of window:   nothing -> "ignored"
   0.3   > . seq=rcv_nxt-1            liveness:        < .  (still alive)
   1.7   > R seq=rcv_nxt+100          in window, inexact:
                                       < .  -> "challenge_ack" (RFC 5961 3.2; lwIP >= 2.0, Linux)
                                       nothing, then dead -> "accepted" (RFC 793)
   2.4   > . seq=rcv_nxt-1            liveness
   3.1   > R seq=rcv_nxt              exact: accepted by everyone
   3.8   > . seq=rcv_nxt-1            liveness: < R (gone)
Measured: "oow:X inexact:Y exact:Z".
"""

from __future__ import annotations

from closebench.probes.conn import Conn, classify, seq_add
from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("rst_validation",)
GAP_S = 0.7


def _try(conn: Conn, offset: int) -> str:
    conn.drain()
    conn.send("R", seq=seq_add(conn.snd_nxt, offset), ack=0)
    answer = classify(conn.recv(GAP_S))
    conn.recv(max(0.0, GAP_S - 0.1))
    state = conn.liveness(GAP_S)
    conn.recv(GAP_S)
    if answer == "ack":
        return "challenge_ack" if state == "alive" else "ack_then_dead"
    if state == "gone":
        return "accepted"
    return "ignored" if state == "alive" else f"{answer}/{state}"


def run(ctx: ProbeContext) -> list[Observation]:
    conn = ctx.conn()
    if conn.connect() != "syn-ack":
        return [Observation("rst_validation", None, "no connection")]
    conn.recv(0.3)
    parts = [f"oow:{_try(conn, 10**7)}", f"inexact:{_try(conn, 100)}"]
    parts.append(f"exact:{_try(conn, 0)}")
    return [Observation("rst_validation", " ".join(parts), "steps 0.7 s apart")]
