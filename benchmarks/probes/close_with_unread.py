"""close_with_unread: the device closes while request bytes are still unread: FIN or RST?

Assumes: the app reads the request only up to the blank line (read-on-demand APIs) or
everything (espconn/net acknowledge every pbuf). lwIP's tcp_close sends RST instead of FIN
when rcv_wnd != TCP_WND (unread data); Linux does the same when its receive queue is not empty.
Timeline:
   0    > S ; < S. ; > .
   0    > P. "HEAD / HTTP/1.1 ... \\r\\n\\r\\n" + 200 extra bytes   (one segment)
   0+   < P. response ; > .
        < F.  -> rst_on_unread = false    everything was read (or discarded) first
        < R.  -> rst_on_unread = true     tcp_close found unread bytes
Watch: 6 s (Arduino waits 2 s for the client before it closes).
"""

from __future__ import annotations

from closebench.probes.conn import REQUEST
from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("rst_on_unread",)
EXTRA = b"X" * 200


def run(ctx: ProbeContext) -> list[Observation]:
    conn = ctx.conn()
    if conn.connect() != "syn-ack":
        return [Observation("rst_on_unread", None, "the device did not accept a connection")]
    t = conn.request(REQUEST + EXTRA)
    out = conn.read_until_close(6.0)
    if out.kind == "none":
        return [Observation("rst_on_unread", None, "the device did not close within 6 s")]
    return [
        Observation(
            "rst_on_unread",
            out.kind == "rst",
            f"{out.kind.upper()} {out.t - t:.3f} s after the request; "
            f"{out.data_bytes} response bytes before it",
        )
    ]
