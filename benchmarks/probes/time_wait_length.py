"""time_wait_length: how long the device holds TIME_WAIT after closing first.

Assumes: the device answers an HTTP request and closes first (every variant's app does).
A SYN on the old 4-tuple whose sequence number is below the old rcv_nxt is refused by every
stack while the TIME_WAIT PCB exists (lwIP: out of window -> ACK; Linux: not above rcv_nxt ->
ACK, rate-limited to one per 500 ms), and answered with a SYN-ACK once it is gone.

Timeline (t = 0 when our FIN reaches the device and it enters TIME_WAIT):
  -0.x  > S  ; < S.  ; > .  ; > P. HEAD / ...      handshake + request
  -0.x  < P. response ; > .  ; < F.  ; > .          device closes first, we ACK its FIN
   0    > F.                ; < .                   device: FIN_WAIT_2 -> TIME_WAIT
   0+k*dt  > S seq=rcv_nxt-100000                   dt 0.1 s (lwIP) / 0.25 s (Linux)
           < .  (or nothing)                        still in TIME_WAIT
   T       < S.                                     TIME_WAIT over: T is the measurement
   T       > R                                      drop the new connection again
Measured: time_wait_s = midpoint between the last refused and the first accepted SYN.
Bounded: the watch ends at min(expected + 3 s, max_observe_s); if the TIME_WAIT outlives it,
the result is "still in TIME_WAIT at W s" (a lower bound, consistent with any longer value).
Tolerance: the manifest's (e.g. 10 s +/- 0.5 s); the probe adds <= dt/2 of its own.
"""

from __future__ import annotations

from closebench.probes.conn import close_into_time_wait, seq_add
from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("time_wait_s",)


def run(ctx: ProbeContext) -> list[Observation]:
    conn = ctx.conn()
    t0 = close_into_time_wait(conn)
    if t0 is None:
        return [Observation("time_wait_s", None, "the device did not close first with a FIN")]
    window = ctx.window(ctx.expect.get("time_wait_s"))
    dt = 0.1 if ctx.kind == "lwip" else 0.25
    syn_seq = seq_add(conn.snd_nxt, -100000)
    last_refused = t0
    answers: dict[str, int] = {}
    while ctx.now() - t0 < window:
        conn.drain()
        sent = conn.send("S", seq=syn_seq, ack=0)
        seg = conn.recv(dt)
        kind = (
            "silent"
            if seg is None
            else ("syn-ack" if seg.has("S") else "rst" if seg.has("R") else "ack")
        )
        answers[kind] = answers.get(kind, 0) + 1
        if kind == "syn-ack":
            conn.send("R", seq=seq_add(syn_seq, 1), ack=0)
            measured = round(((last_refused + sent) / 2) - t0, 3)
            return [
                Observation(
                    "time_wait_s",
                    measured,
                    f"refused until {last_refused - t0:.2f} s, new SYN accepted at "
                    f"{sent - t0:.2f} s; answers {answers}",
                    data={
                        "last_refused_s": round(last_refused - t0, 3),
                        "first_accepted_s": round(sent - t0, 3),
                        "answers": answers,
                    },
                )
            ]
        if kind in ("ack", "rst"):
            last_refused = sent
        rest = dt - (ctx.now() - sent)
        if rest > 0:
            conn.recv(rest)
    return [
        Observation(
            "time_wait_s",
            round(window, 1),
            f"still in TIME_WAIT at {window:.1f} s (watch bounded); answers {answers}",
            bound="lower",
            data={"answers": answers},
        )
    ]
