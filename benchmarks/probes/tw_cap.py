"""tw_cap: how many TIME_WAIT PCBs the device keeps (Arduino's glue kills the oldest past 5).

Assumes: TIME_WAIT lasts longer than the probe (~3 s; where the app serves one client at a
time and waits for the client's close first, N such waits); N = max(7, tw_cap + 2)
connections are closed device-first into TIME_WAIT at once (one after another for such an
app), oldest first (0.05 s apart), then each
4-tuple is tested with a SYN below its rcv_nxt. Timeline per 4-tuple:
   > S seq=rcv_nxt-100000 ; < .   still in TIME_WAIT
                            < S.  freed (then > R)
Measured: tw_cap = number still in TIME_WAIT when some were freed, 0 when all N survived
("no cap up to N"). A TIME_WAIT shorter than the probe (5 s variants) reads as a cap of 0
survivors: the probe says so instead of judging.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from closebench.probes.conn import Conn, classify, close_into_time_wait, seq_add
from closebench.probes.context import Observation, ProbeContext

BEHAVIOURS = ("tw_cap",)


def _staggered(args: tuple[Conn, float, float]) -> float | None:
    conn, delay, timeout = args
    time.sleep(delay)
    return close_into_time_wait(conn, timeout)


def run(ctx: ProbeContext) -> list[Observation]:
    cap = ctx.expect.get("tw_cap")
    n = max(7, (cap if isinstance(cap, int) else 0) + 2)
    conns = [ctx.conn() for _ in range(n)]
    # An app that serves one client at a time and first waits for the client's close
    # (ESP8266WebServer: wait_client_close_s) behind a listen backlog: connections are made
    # one after another there, or the backlog would drop the SYNs beyond it.
    wait = ctx.expect.get("wait_client_close_s")
    serial = isinstance(wait, int | float) and wait > 0
    timeout = 6.0 + (wait if serial else 0.0)
    jobs = [(c, 0.0 if serial else i * 0.05, timeout) for i, c in enumerate(conns)]
    with ThreadPoolExecutor(1 if serial else n) as pool:
        starts = list(pool.map(_staggered, jobs))
    closed = [(t, c) for t, c in zip(starts, conns, strict=True) if t is not None]
    if len(closed) < n:
        return [Observation("tw_cap", None, f"only {len(closed)} of {n} closed device-first")]
    closed.sort(key=lambda tc: tc[0])
    alive = []
    for _, conn in closed:
        conn.drain()
        syn = seq_add(conn.snd_nxt, -100000)
        conn.send("S", seq=syn, ack=0)
        answer = classify(conn.recv(0.6))
        if answer == "syn-ack":
            conn.send("R", seq=seq_add(syn, 1), ack=0)
        alive.append(answer != "syn-ack")
    span = max(t for t, _ in closed) - min(t for t, _ in closed)
    survivors = sum(alive)
    pattern = "".join("T" if a else "-" for a in alive)
    tw = ctx.expect.get("time_wait_s")
    if isinstance(tw, int | float) and tw < 8:
        return [
            Observation(
                "tw_cap", None, f"TIME_WAIT {tw} s is too short to count; oldest..newest {pattern}"
            )
        ]
    measured = 0 if survivors == n else survivors
    return [
        Observation(
            "tw_cap",
            measured,
            f"{survivors} of {n} still in TIME_WAIT (oldest..newest {pattern}); "
            f"closes spread over {span:.2f} s",
            data={"pattern": pattern, "n": n},
        )
    ]
