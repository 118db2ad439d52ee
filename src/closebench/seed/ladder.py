"""A duel's ladder: every packet of the connection by sender, read from the laptop's capture.

For each RST it names the sequence relation to the segment it answers (the RST's seq against
the ack of the peer's last segment before it). For an RST from the device it says what the
Linux side's RFC 5961 rules make of it, from Linux's own last ACK (its rcv_nxt) and its last
advertised window (scaled by the shift its SYN offered): seq == rcv_nxt resets the
connection; inside the window but not exact draws a challenge ACK; outside it is dropped
(torvalds/linux net/ipv4/tcp_input.c, tcp_validate_incoming(): "if (TCP_SKB_CB(skb)->seq ==
tp->rcv_nxt ... tcp_reset" / "tcp_send_challenge_ack"; RFC 5961 section 3.2). It marks each
pure ACK that follows the peer's RST as the answer to it. These are judgements from the
packets on the laptop's side of the link; the device's view may differ by what the link held.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from closebench.seed.packets import ACK, FIN, RST, SYN

SEQ_SPACE = 2**32
MAX_ROWS = 80  # a duel's packets kept in seed.json (the first ones; the count says how many)


def _delta(a: int, b: int) -> int:
    """a - b in sequence space (signed, mod 2^32)."""
    d = (a - b) % SEQ_SPACE
    return d - SEQ_SPACE if d >= SEQ_SPACE // 2 else d


def rst_relation(rst_seq: int, trigger: Any | None) -> str:
    """The RST's seq against the ack of the segment it answers."""
    if trigger is None:
        return "no segment from the peer before it"
    d = _delta(rst_seq, int(trigger.ack))
    if not int(trigger.flags) & ACK:
        return "the segment it answers carries no ACK"
    if d == 0:
        return "seq = ack of the segment it answers"
    return f"seq {'>' if d > 0 else '<'} ack of the segment it answers by {abs(d)}"


def linux_rfc5961(rst_seq: int, last_client: Any | None, client_wscale: int) -> str:
    """What Linux makes of a device RST, from its last ACK and window (RFC 5961 3.2)."""
    if last_client is None or not int(last_client.flags) & ACK:
        return "Linux has sent no ACK yet: not judged"
    d = _delta(rst_seq, int(last_client.ack))
    window = int(last_client.win) << max(0, client_wscale)
    if d == 0:
        return "seq = Linux's rcv_nxt: accepted, Linux resets the connection"
    if 0 < d < max(window, 1):
        return (
            "in Linux's window, not at rcv_nxt: Linux answers with a challenge ACK (at most one "
            "per net.ipv4.tcp_invalid_ratelimit, 500 ms by default)"
        )
    return "outside Linux's window: Linux drops it"


def ladder(
    tagged: pd.DataFrame,
    load_stop: float | None,
    sources: dict[tuple[int, int, int, int], list[str]] | None = None,
) -> dict[str, Any]:
    """The connection's ladder rows, its RST relations and how long it went on after the load.
    `sources` (closebench.seed.trace): the source chain that sent each device packet, by
    (client port, seq, ack, flags), in sending order; consumed as the packets are matched."""
    rows: list[dict[str, Any]] = []
    last: dict[bool, Any] = {}
    syn = tagged[((tagged["flags"] & SYN) > 0) & ~tagged["from_device"]]
    wscale = int(syn["wscale"].iloc[0]) if len(syn) and "wscale" in syn else -1
    t0 = float(tagged["ts"].iloc[0]) if len(tagged) else 0.0
    rsts = 0
    for r in tagged.itertuples(index=False):
        dev = bool(r.from_device)
        flags = int(r.flags)
        note = []
        if flags & RST:
            rsts += 1
            note.append(rst_relation(int(r.seq), last.get(not dev)))
            if dev:
                note.append(linux_rfc5961(int(r.seq), last.get(False), wscale))
        prev_peer = last.get(not dev)
        pure_ack = flags & ACK and not flags & (SYN | FIN | RST) and int(r.length) == 0
        if pure_ack and prev_peer is not None and int(prev_peer.flags) & RST:
            note.append("ACK answering the peer's RST")
        if bool(getattr(r, "retx", False)):
            note.append("retransmission")
        if dev and sources is not None:
            sent = sources.get((int(r.dport), int(r.seq), int(r.ack), flags)) or []
            note.append(f"sent by {sent.pop(0)}" if sent else "sender not in the trace")
        if bool(getattr(r, "dup_ack", False)):
            note.append("duplicate ACK")
        rows.append({
            "t_ms": round((float(r.ts) - t0) * 1000, 3),
            "from": "device" if dev else "laptop",
            "flags": str(r.names), "seq": int(r.seq), "ack": int(r.ack),
            "len": int(r.length), "win": int(r.win), "note": "; ".join(note),
        })  # fmt: skip
        last[dev] = r
    end = float(tagged["ts"].iloc[-1]) if len(tagged) else None
    after = round(end - load_stop, 3) if end is not None and load_stop is not None else None
    return {
        "packets": len(rows),
        "rsts": rsts,
        "client_window_scale": wscale,
        "went_on_after_load_s": max(0.0, after) if after is not None else None,
        "rows": rows[:MAX_ROWS],
    }
