"""syn_in_time_wait: what a new SYN on a 4-tuple in TIME_WAIT gets back.

Assumes: device-first close. Three separate connections are closed into TIME_WAIT (in
parallel, so Arduino's 2 s close wait is paid once); each gets one SYN (rcv_nxt is the
device's next expected sequence number, wnd its receive window). Timeline per case:
   in-window  > S seq=rcv_nxt+1            lwIP: < R. (SYN in window is an error)
                                           Linux: < S. (higher ISN reopens, RFC 1122)
   below      > S seq=rcv_nxt-100000       lwIP: < .  (out of window -> ACK)
                                           Linux: < .  (old duplicate -> ACK)
   above      > S seq=rcv_nxt+2^20         lwIP: < .  (out of window)   Linux: < S.
Measured: "in-window:X below:Y above:Z" with X, Y, Z in syn-ack/rst/ack/silent.
The "ACK for a SYN" answer is the start of the SYN/ACK/RST duel seen with Linux clients.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from closebench.probes.conn import classify, close_into_time_wait, seq_add
from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("syn_in_time_wait",)
CASES = (("in-window", 1), ("below", -100000), ("above", 2**20))


def run(ctx: ProbeContext) -> list[Observation]:
    conns = [ctx.conn() for _ in CASES]
    with ThreadPoolExecutor(len(conns)) as pool:
        starts = list(pool.map(close_into_time_wait, conns))
    if any(t is None for t in starts):
        return [Observation(BEHAVIOURS[0], None, "the device did not close first with a FIN")]
    parts = []
    for (name, offset), conn in zip(CASES, conns, strict=True):
        conn.drain()
        syn_seq = seq_add(conn.snd_nxt, offset)
        conn.send("S", seq=syn_seq, ack=0)
        answer = classify(conn.recv(0.8))
        if answer == "syn-ack":
            conn.send("R", seq=seq_add(syn_seq, 1), ack=0)
        parts.append(f"{name}:{answer}")
    measured = " ".join(parts)
    return [Observation(BEHAVIOURS[0], measured, "one SYN per case, each on its own 4-tuple")]
