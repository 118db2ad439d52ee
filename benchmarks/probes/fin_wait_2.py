"""fin_wait_2: the client ACKs the device's FIN but never sends its own.

Assumes: device-first close. lwIP frees a FIN_WAIT_2 PCB whose RX side is closed after
TCP_FIN_WAIT_TIMEOUT (20 s, hard-coded upstream) without telling the peer; Linux keeps an
orphan in FIN_WAIT_2 for tcp_fin_timeout (60 s). MicroPython's modlwip aborts (RST) any PCB
still closing after 20 poll ticks. Liveness is checked once a second with a zero-length
segment one below snd_nxt: a live PCB answers ACK, a freed one RST (it carries no data, so it
does not refresh lwIP's timer; Linux rate-limits such ACKs to 2/s).
Timeline (t = 0 at the device's FIN):
   0        < F. ; > .                      device in FIN_WAIT_2
   k*1 s    > . seq=snd_nxt-1 ; < .         still there
   T        > . seq=snd_nxt-1 ; < R         gone: fin_wait_2_s = T (midpoint)
   (or)     < R                             device aborted: close_poll_abort_s = T
   T+0.5    > F. ; < R / < .                what a late client FIN gets
Watch: min(expected + 3 s, max_observe_s); a longer FIN_WAIT_2 gives a lower bound.
"""

from __future__ import annotations

from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("fin_wait_2_s", "close_poll_abort_s", "late_fin_answer")


def run(ctx: ProbeContext) -> list[Observation]:
    conn = ctx.conn()
    if conn.connect() != "syn-ack":
        return [Observation("fin_wait_2_s", None, "no connection")]
    conn.request()
    out = conn.read_until_close(6.0)
    if out.kind != "fin" or out.t is None:
        return [Observation("fin_wait_2_s", None, f"device close was {out.kind}")]
    t0 = out.t
    expected = ctx.expect.get("close_poll_abort_s") or ctx.expect.get("fin_wait_2_s")
    window = ctx.window(expected, default_s=25.0)
    last_alive, gone_at, how = t0, None, ""
    while ctx.now() - t0 < window:
        seg = conn.recv(0.4)  # catch a spontaneous RST between liveness checks
        if seg is not None and seg.has("R"):
            gone_at, how = seg.t, "device RST"
            break
        sent = ctx.now()
        state = conn.liveness(0.6)
        if state == "gone":
            gone_at, how = (last_alive + sent) / 2, "silently freed (probe drew RST)"
            break
        if state == "alive":
            last_alive = sent
    if gone_at is None:
        return [
            Observation(
                "fin_wait_2_s",
                round(window, 1),
                f"still in FIN_WAIT_2 at {window:.1f} s (watch bounded)",
                bound="lower",
            )
        ]
    conn.recv(0.5)
    conn.drain()
    conn.send("FA")
    seg = conn.recv(1.0)
    late = "silent" if seg is None else "rst" if seg.has("R") else "ack"
    key = "close_poll_abort_s" if how == "device RST" else "fin_wait_2_s"
    return [
        Observation(key, round(gone_at - t0, 3), f"{how} {gone_at - t0:.2f} s after its FIN"),
        Observation("late_fin_answer", late, "client FIN sent after the PCB was gone"),
    ]
