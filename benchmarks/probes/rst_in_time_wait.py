"""rst_in_time_wait: does a RST kill the device's TIME_WAIT (RFC 1337 says ignore it)?

Assumes: device-first close as in time_wait_length, and a TIME_WAIT of at least ~1 s.
Timeline (t = 0 when the device enters TIME_WAIT):
   0     > F.  ; < .                         device in TIME_WAIT
   0.3   > R seq=rcv_nxt (exact)             the "assassination" segment
   0.8   > S seq=rcv_nxt-100000               below rcv_nxt: refused by any TIME_WAIT
   0.8   < .        -> RST ignored (rfc1337_ignore_rst_in_time_wait = true)
         < S.       -> TIME_WAIT was killed (false; Linux with tcp_rfc1337=0)
Control: the same SYN sent before the RST must be refused, or the result means nothing.
"""

from __future__ import annotations

from closebench.probes.conn import classify, close_into_time_wait, seq_add
from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("rfc1337_ignore_rst_in_time_wait",)
KEY = BEHAVIOURS[0]


def run(ctx: ProbeContext) -> list[Observation]:
    conn = ctx.conn()
    t0 = close_into_time_wait(conn)
    if t0 is None:
        return [Observation(KEY, None, "the device did not close first with a FIN")]
    syn_seq = seq_add(conn.snd_nxt, -100000)
    conn.recv(0.3)
    conn.send("S", seq=syn_seq, ack=0)
    before = classify(conn.recv(0.6))
    if before == "syn-ack":
        conn.send("R", seq=seq_add(syn_seq, 1), ack=0)
        return [Observation(KEY, None, "no TIME_WAIT to test: a SYN was accepted at once")]
    conn.send("R", ack=0)  # seq = rcv_nxt of the device's TIME_WAIT PCB
    conn.recv(0.6)  # Linux rate-limits TIME_WAIT ACKs to one per 500 ms
    conn.drain()
    conn.send("S", seq=syn_seq, ack=0)
    after = classify(conn.recv(0.8))
    if after == "syn-ack":
        conn.send("R", seq=seq_add(syn_seq, 1), ack=0)
    ignored = after != "syn-ack"
    return [
        Observation(
            KEY,
            ignored,
            f"SYN before the RST: {before}; after the RST: {after} "
            f"({'TIME_WAIT survived' if ignored else 'TIME_WAIT killed'})",
            data={"before": before, "after": after},
        )
    ]
