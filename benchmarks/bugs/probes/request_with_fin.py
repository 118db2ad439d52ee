"""request_with_fin: the client sends its request and FIN in one segment (shutdown(SHUT_WR)
right after send): is the request answered?

Assumes: the app answers a whole request (HEAD /) with a response and then closes. lwIP hands
the data to the recv callback first and then the FIN (recv with a NULL pbuf). Arduino's
ClientContext::_recv before 2.7.0 aborted on that NULL pbuf whatever was still buffered
(esp8266/Arduino#2569; changed by 2d58be744, #7096).
Timeline:
   0     > S ; < S. ; > .
   0.3   > FP. "HEAD / ..."                request and FIN together
         < P. response ... < F.   -> "reply_then_fin"
         < P. response ... < R.   -> "reply_then_rst"
         < R. (no response)       -> "rst_no_reply"
         < F. (no response)       -> "fin_no_reply"
         nothing for 6 s          -> measured None
Measured: request_with_fin; the detail gives the bytes and the delay of the close.
"""

from __future__ import annotations

from closebench.probes.conn import REQUEST
from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("request_with_fin",)
WAIT_S = 6.0  # ESP8266WebServer waits up to 2 s (HTTP_MAX_CLOSE_WAIT) before it closes


def run(ctx: ProbeContext) -> list[Observation]:
    conn = ctx.conn()
    if conn.connect() != "syn-ack":
        return [Observation("request_with_fin", None, "the device did not accept a connection")]
    conn.recv(0.3)
    t = conn.send("FPA", data=REQUEST)
    out = conn.read_until_close(WAIT_S)
    if out.kind == "none":
        return [Observation("request_with_fin", None, f"no FIN or RST within {WAIT_S:.0f} s")]
    what = "reply" if out.data_bytes else "no_reply"
    measured = f"{what}_then_{out.kind}" if out.data_bytes else f"{out.kind}_{what}"
    detail = (
        f"{out.data_bytes} response bytes, {out.kind.upper()} {out.t - t:.3f} s after the request"
    )
    return [Observation("request_with_fin", measured, detail)]
