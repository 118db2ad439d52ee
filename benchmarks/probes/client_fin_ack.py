"""client_fin_ack: is the client's FIN that follows the device's own close ACKed at once?

Assumes: the device closes first after answering (all lwIP apps here; Arduino after its 2 s
wait). lwIP ACKs a FIN right away (tcp_ack_now, then tcp_output at the end of tcp_input),
unless a callback returned ERR_ABRT without aborting: NodeMCU's net.c leaves its recv
callback on the closed PCB, so the FIN-event callback returns ERR_ABRT and tcp_input skips
tcp_output ("goto aborted"). The retransmitted FIN then meets TIME_WAIT, which ACKs it.
Timeline:
   0     > S ; < S. ; > . ; > P. request ; < data ; > .
   t0    < F. ; > .                    device in FIN_WAIT_2
   t1    > F.                          our FIN
         < . ack=our FIN+1 within 0.6 s        -> "immediate"
   +0.6, +1.6, +3.6 s  > F. (retransmitted)   < .  -> "on_retransmit"
         no ACK at all                          -> measured None
Measured: client_fin_ack; the detail gives the delay to the ACK.
"""

from __future__ import annotations

from closebench.probes.conn import Conn, seq_add
from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("client_fin_ack",)
FIRST_WAIT_S = 0.6
RETRANSMIT_WAITS_S = (1.0, 2.0, 3.0)


def _acked(conn: Conn, timeout: float) -> bool:
    return conn.wait(lambda s: s.has("A") and s.ack == conn.snd_nxt, timeout) is not None


def run(ctx: ProbeContext) -> list[Observation]:
    conn = ctx.conn()
    if conn.connect() != "syn-ack":
        return [Observation("client_fin_ack", None, "the device did not accept a connection")]
    conn.request()
    out = conn.read_until_close(6.0, ack_fin=True)
    if out.kind != "fin":
        return [
            Observation("client_fin_ack", None, f"the device did not close with a FIN ({out.kind})")
        ]
    conn.drain()
    t = conn.send("FA")
    if _acked(conn, FIRST_WAIT_S):
        return [Observation("client_fin_ack", "immediate", f"ACKed after {ctx.since(t):.3f} s")]
    fin_seq = seq_add(conn.snd_nxt, -1)
    for n, wait in enumerate(RETRANSMIT_WAITS_S, start=1):
        conn.send("FA", seq=fin_seq)
        if _acked(conn, wait):
            return [
                Observation(
                    "client_fin_ack",
                    "on_retransmit",
                    f"not ACKed within {FIRST_WAIT_S} s; ACKed after retransmission {n}, "
                    f"{ctx.since(t):.3f} s after the first FIN",
                    data={"retransmissions": n, "delay_s": ctx.since(t)},
                )
            ]
    return [
        Observation(
            "client_fin_ack",
            None,
            f"our FIN was never ACKed ({len(RETRANSMIT_WAITS_S)} retransmissions)",
        )
    ]
