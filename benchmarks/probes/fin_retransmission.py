"""fin_retransmission: the device's FIN schedule when the client never ACKs it.

Assumes: device-first close after the response. We ACK the response bytes (so only the FIN
is outstanding) and never the FIN. Note the RTO here already includes the RTT samples of the
handshake and the response (lwIP: sv shrinks per sample; Linux: ~200 ms minimum), so it is
not the stack's *initial* RTO: syn_ack_retransmission measures that.
Timeline (t = 0 at the first FIN):
   0       < F.         ; we ACK data only (ack = FIN's seq)
   r1      < F.         retransmission 1 (r1 = first RTO)
   r1+r2   < F.         r2 ~ 2*r1 with exponential backoff ... until a clamp or the end
   end     < R.  -> ended by RST (e.g. MicroPython's close-poll abort)
           silence -> given up / PCB freed, or simply beyond the watch window
Watch: min(30 s, max_observe_s). Measured: "first Xms, backoff [..], N retx, ended: ...".
Also reports wait_client_close_s (response -> FIN delay) when the manifest states it.
"""

from __future__ import annotations

import itertools

from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("fin_retransmission", "wait_client_close_s")
WATCH_S = 30.0


def run(ctx: ProbeContext) -> list[Observation]:
    conn = ctx.conn()
    if conn.connect() != "syn-ack":
        return [Observation("fin_retransmission", None, "no connection")]
    conn.request()
    out = conn.read_until_close(6.0, ack_fin=False)
    if out.kind != "fin" or out.t is None:
        return [Observation("fin_retransmission", None, f"device close was {out.kind}")]
    obs = []
    if "wait_client_close_s" in ctx.expect and out.data_t is not None:
        delay = round(out.t - out.data_t, 3)
        obs.append(
            Observation("wait_client_close_s", delay, "response to device FIN, client silent")
        )
    fins = [out.t]
    ended = "still retransmitting at the end of the watch"
    window = min(WATCH_S, ctx.max_observe_s)
    while (left := out.t + window - ctx.now()) > 0:
        seg = conn.recv(left)
        if seg is None:
            break
        if seg.has("R"):
            ended = f"RST at {seg.t - out.t:.2f} s"
            break
        if seg.has("F"):
            fins.append(seg.t)
    gaps = [round((b - a) * 1000) for a, b in itertools.pairwise(fins)]
    if (
        len(fins) > 1
        and ended.startswith("still")
        and ctx.now() - fins[-1] > 2.5 * (gaps[-1] / 1000)
    ):
        ended = f"silent after {len(gaps)} retransmissions"
    ratios = [round(b / a, 2) for a, b in itertools.pairwise(gaps) if a > 0]
    first = f"first {gaps[0]} ms" if gaps else "no retransmission"
    measured = f"{first}, {len(gaps)} retx in {window:.0f} s, {ended}"
    obs.append(
        Observation(
            "fin_retransmission",
            measured,
            f"intervals ms {gaps}; backoff ratios {ratios}",
            data={"intervals_ms": gaps, "ratios": ratios, "ended": ended, "watch_s": window},
        )
    )
    return obs
