"""ack_to_listen: a bare ACK reaches the listening port: which sequence number has the RST?

Assumes: nothing; the 4-tuple is new, so only the LISTEN PCB sees the segment. RFC 793
(p. 65, "If the state is LISTEN ... any acknowledgment is bad ... <SEQ=SEG.ACK><CTL=RST>")
asks for a RST whose sequence number is the segment's ACK number. lwIP up to 1.4.0 sent
SEG.ACK + 1 (savannah bug #34111), which the peer does not accept as in its window.
Timeline (a new 4-tuple, no handshake):
   0     > . seq=S ack=A                 an ACK nobody expects
         < R. seq=A      -> "ack"        RFC 793 (lwIP >= 1.4.1, Linux)
         < R. seq=A+1    -> "ack+1"      lwIP bug #34111
         nothing in 1 s  -> "silent"
Measured: ack_to_listen_rst ("ack", "ack+1", "silent" or "seq=A+k" for any other offset).
"""

from __future__ import annotations

from closebench.probes.conn import MOD, seq_add
from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("ack_to_listen_rst",)
ACK_NO = 0x5A5A0000  # any value: the device has no state for this 4-tuple


def run(ctx: ProbeContext) -> list[Observation]:
    conn = ctx.conn()
    conn.send("A", seq=conn.iss, ack=ACK_NO)
    seg = conn.wait(lambda s: s.has("R"), 1.0)
    if seg is None:
        return [Observation("ack_to_listen_rst", "silent", "no RST within 1 s")]
    offset = (seg.seq - ACK_NO) % MOD
    measured = {0: "ack", 1: "ack+1"}.get(offset, f"seq=A+{offset}")
    detail = (
        f"RST seq={seg.seq} for SEG.ACK={ACK_NO} (ack field {seg.ack}, ours {seq_add(conn.iss, 0)})"
    )
    return [Observation("ack_to_listen_rst", measured, detail)]
