"""client_fin_first: an idle connection closed by the client first: FIN, RST or half-closed?

Assumes: the device's app sits waiting for a request; the client sends no request at all.
Timeline:
   0     > S ; < S. ; > .           idle connection
   0.3   > F. seq=snd_nxt           client closes first
   0.3   < .                        (lwIP ACKs the FIN)
   0.3+  < F.   -> "fin"            app closes in turn (NodeMCU net, espconn)
         < R.   -> "rst"            app aborts (Arduino ClientContext: FIN on empty buffer)
         nothing for 4 s -> "half_closed"   app left it in CLOSE_WAIT
   then  > .  (ACK of the device FIN, so LAST_ACK ends cleanly)
Measured: client_fin_answer, and the delay of the answer in the detail.
"""

from __future__ import annotations

from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("client_fin_answer",)
WAIT_S = 4.0


def run(ctx: ProbeContext) -> list[Observation]:
    conn = ctx.conn()
    if conn.connect() != "syn-ack":
        return [Observation("client_fin_answer", None, "the device did not accept a connection")]
    conn.recv(0.3)
    t = conn.send("FA")
    out = conn.read_until_close(WAIT_S, ack_fin=True)
    if out.kind == "fin":
        return [
            Observation(
                "client_fin_answer", "fin", f"FIN after {out.t - t:.3f} s" if out.t else "FIN"
            )
        ]
    if out.kind == "rst":
        return [
            Observation(
                "client_fin_answer", "rst", f"RST after {out.t - t:.3f} s" if out.t else "RST"
            )
        ]
    acked = any(s.has("A") and s.ack == conn.snd_nxt for s in out.segments)
    return [
        Observation(
            "client_fin_answer",
            "half_closed",
            f"no FIN or RST within {WAIT_S:.0f} s; our FIN {'was' if acked else 'was not'} ACKed",
        )
    ]
