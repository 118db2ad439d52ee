"""syn_ack_retransmission: the stack's initial RTO, from its SYN-ACK retransmissions.

Assumes: no RTT sample exists before the SYN-ACK, so its first retransmission comes after
exactly the initial RTO (lwIP 2.1.x: 3000 ms hard-coded; 2.2.x: LWIP_TCP_RTO_TIME; Linux:
1 s), rounded up to the stack's slow timer (250 or 500 ms).
Timeline:
   0      > S           ; never ACKed
   0      < S.
   rto    < S.          measured: initial_rto_ms = rto
   +2rto  < S.          (second interval shows the SYN_RCVD backoff; reported in detail)
   end    > R           drop the half-open connection
Watch: min(expected * 3.5 + 1 s, max_observe_s, 12 s).
"""

from __future__ import annotations

import itertools

from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("initial_rto_ms",)


def run(ctx: ProbeContext) -> list[Observation]:
    conn = ctx.conn()
    expected = float(ctx.expect.get("initial_rto_ms") or 3000)
    window = min(expected / 1000 * 3.5 + 1.0, ctx.max_observe_s, 12.0)
    t = conn.send("S", ack=0)
    times: list[float] = []
    while (left := t + window - ctx.now()) > 0 and len(times) < 3:
        seg = conn.recv(left)
        if seg is not None and seg.has("S") and seg.has("A"):
            times.append(seg.t)
    conn.send("R", ack=0)
    if len(times) < 2:
        return [
            Observation(
                "initial_rto_ms",
                round(window * 1000),
                f"{len(times)} SYN-ACK(s), no retransmission within {window:.1f} s",
                bound="lower",
            )
        ]
    gaps = [round((b - a) * 1000) for a, b in itertools.pairwise(times)]
    return [
        Observation(
            "initial_rto_ms", gaps[0], f"SYN-ACK intervals ms {gaps}", data={"intervals_ms": gaps}
        )
    ]
