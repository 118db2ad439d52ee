"""last_ack: the client closes first, the device answers with its FIN, the client never ACKs.

Assumes: the device answers a client FIN with a FIN (client_fin_answer = fin); otherwise the
probe reports that there is no LAST_ACK to measure. lwIP retransmits the FIN with backoff and
frees a LAST_ACK PCB after 2*TCP_MSL (the same timer as TIME_WAIT) or TCP_MAXRTX tries;
Linux retransmits up to tcp_orphan_retries.
Timeline (t = 0 at the device's FIN):
   -0.3   > S ; < S. ; > .          idle connection
   -0     > F. ; < . ; < F.         device in LAST_ACK; we never ACK its FIN
   r1..   < F.                      FIN retransmissions (counted)
   k*1 s  > . seq=snd_nxt-1         liveness: < . while LAST_ACK lives, < R once freed
Measured: last_ack_s (freed at, midpoint) and the FIN retransmission count in the detail.
Watch: min(expected + 3 s, max_observe_s); expected = time_wait_s on lwIP (2*MSL).
"""

from __future__ import annotations

import itertools

from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("last_ack_s",)


def run(ctx: ProbeContext) -> list[Observation]:
    conn = ctx.conn()
    if conn.connect() != "syn-ack":
        return [Observation("last_ack_s", None, "no connection")]
    conn.recv(0.3)
    conn.send("FA")
    out = conn.read_until_close(4.0, ack_fin=False)
    if out.kind != "fin" or out.t is None:
        return [
            Observation(
                "last_ack_s", None, f"no LAST_ACK: the client FIN was answered with {out.kind}"
            )
        ]
    t0 = out.t
    expected = ctx.expect.get("last_ack_s")
    if expected is None and ctx.kind == "lwip":
        expected = ctx.expect.get("time_wait_s")
    window = ctx.window(expected, default_s=30.0)
    fins = [t0]
    last_alive, gone_at, how = t0, None, ""
    while ctx.now() - t0 < window:
        seg = conn.recv(0.4)
        while seg is not None:
            if seg.has("R"):
                gone_at, how = seg.t, "device RST"
                break
            if seg.has("F"):
                fins.append(seg.t)
            seg = conn.recv(0.0)
        if gone_at is not None:
            break
        sent = ctx.now()
        state = conn.liveness(0.6)
        if state == "gone":
            gone_at, how = (last_alive + sent) / 2, "freed (probe drew RST)"
            break
        if state == "alive":
            last_alive = sent
    gaps = [round((b - a) * 1000) for a, b in itertools.pairwise(fins)]
    detail = f"{len(gaps)} FIN retransmissions, intervals ms {gaps}"
    if gone_at is None:
        return [
            Observation(
                "last_ack_s",
                round(window, 1),
                f"still in LAST_ACK at {window:.1f} s; {detail}",
                bound="lower",
                data={"intervals_ms": gaps},
            )
        ]
    return [
        Observation(
            "last_ack_s",
            round(gone_at - t0, 3),
            f"{how} at {gone_at - t0:.2f} s; {detail}",
            data={"intervals_ms": gaps, "ended": how},
        )
    ]
