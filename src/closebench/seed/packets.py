"""Per-packet view of a cell's capture, in Wireshark's terms, for the connections we cite.

connections.parquet counts flags per side but not who sent each retransmission or duplicate
ACK; the study needs that split. Frames are parsed by hand (Ethernet/IPv4/TCP), which is
fast enough for a cell of a few thousand packets. The rules follow Wireshark's
tcp.analysis.retransmission (a segment with data, SYN or FIN that does not advance the
sender's highest sequence end) and tcp.analysis.duplicate_ack (no data, no SYN/FIN/RST, same
ACK and window as the sender's previous segment, which also had no data).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from closebench.capture.linktypes import TCP_PROTO, ip_layer
from closebench.capture.pcapfile import readable_records

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
COLUMNS = ("ts", "src", "sport", "dst", "dport", "flags", "seq", "ack", "win", "length",
           "wscale")  # fmt: skip
WSCALE_OPTION = 3  # RFC 7323 window scale option kind; -1 in the column: none on this packet


def read_tcp(path: Path) -> pd.DataFrame:
    """Every IPv4 TCP packet of a capture: one row each, capture order."""
    rows = []
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame(columns=list(COLUMNS))
    for record in readable_records(path):
        layer = ip_layer(record.linktype, record.data)
        if layer is None or layer[0] != 4:
            continue
        ip = record.data[layer[1] :]
        ihl = (ip[0] & 0x0F) * 4
        if len(ip) < ihl + 20 or ip[9] != TCP_PROTO:
            continue
        total = struct.unpack("!H", ip[2:4])[0]
        tcp = ip[ihl:]
        sport, dport, seq, ack = struct.unpack("!HHII", tcp[:12])
        off = (tcp[12] >> 4) * 4
        flags = tcp[13]
        win = struct.unpack("!H", tcp[14:16])[0]
        length = max(0, total - ihl - off)
        src = ".".join(str(b) for b in ip[12:16])
        dst = ".".join(str(b) for b in ip[16:20])
        wscale = _window_scale(tcp[20:off]) if flags & SYN else -1
        rows.append((record.ts, src, sport, dst, dport, flags, seq, ack, win, length, wscale))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _window_scale(options: bytes) -> int:
    """The window scale shift a SYN offers (RFC 7323), or -1 without the option."""
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2:
            break
        if kind == WSCALE_OPTION and options[i + 1] == 3 and i + 2 < len(options):
            return int(options[i + 2])
        i += options[i + 1]
    return -1


@dataclass
class Tagged:
    """One connection's packets with sender, flag names and Wireshark analysis flags."""

    frame: pd.DataFrame  # COLUMNS + from_device, retx, dup_ack, names


def flag_names(flags: int) -> str:
    names = [n for bit, n in ((SYN, "SYN"), (FIN, "FIN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK"))
             if flags & bit]  # fmt: skip
    return ", ".join(names)


def connection_packets(
    packets: pd.DataFrame, row: pd.Series, *, slack_s: float = 0.0
) -> pd.DataFrame:
    """The packets of one connections.parquet row (4-tuple and time range), tagged."""
    c_ip, c_port = str(row["client_ip"]), int(row["client_port"])
    d_ip, d_port = str(row["device_ip"]), int(row["device_port"])
    t0, t1 = float(row["first_ts"]) - slack_s, float(row["last_ts"]) + slack_s
    p = packets
    fwd = (p["src"] == c_ip) & (p["sport"] == c_port) & (p["dst"] == d_ip) & (p["dport"] == d_port)
    rev = (p["src"] == d_ip) & (p["sport"] == d_port) & (p["dst"] == c_ip) & (p["dport"] == c_port)
    mine = (p["ts"] >= t0 - 0.0005) & (p["ts"] <= t1 + 0.0005) & (fwd | rev)
    frame = p[mine].copy()
    frame["from_device"] = frame["src"] == d_ip
    return tag(frame)


def tag(frame: pd.DataFrame) -> pd.DataFrame:
    """Add retx / dup_ack / names columns (per sender state, in capture order)."""
    retx, dup = [], []
    high: dict[bool, int] = {}
    last: dict[bool, tuple[int, int, int]] = {}
    for r in frame.itertuples(index=False):
        side = bool(r.from_device)
        flags = int(r.flags)
        span = r.length + (1 if flags & (SYN | FIN) else 0)
        end = (r.seq + span) % 2**32
        is_retx = False
        if span and side in high:
            # not advancing past what this side already sent (mod 2^32)
            is_retx = ((end - high[side]) % 2**32) >= 2**31 or end == high[side]
        if span and (side not in high or not is_retx):
            high[side] = end
        is_dup = False
        pure = r.length == 0 and not flags & (SYN | FIN | RST) and flags & ACK
        prev = last.get(side)
        if pure and prev is not None and prev == (r.ack, r.win, 0):
            is_dup = True
        last[side] = (r.ack, r.win, r.length if not flags & (SYN | FIN) else 1)
        retx.append(is_retx)
        dup.append(bool(is_dup))
    frame = frame.assign(retx=retx, dup_ack=dup)
    frame["names"] = [flag_names(int(f)) for f in frame["flags"]]
    return frame


def teardown_composition(tagged: pd.DataFrame) -> dict[str, dict[str, int]]:
    """From the first FIN or RST on: packets by side, with FIN / RST / retx / dup-ACK / ACK."""
    if tagged.empty:
        return {}
    first = tagged[(tagged["flags"] & (FIN | RST)) > 0]
    if first.empty:
        return {}
    tail = tagged.loc[first.index[0] :]
    out: dict[str, dict[str, int]] = {}
    for side, part in (
        ("device", tail[tail["from_device"]]),
        ("client", tail[~tail["from_device"]]),
    ):
        out[side] = {
            "packets": len(part),
            "fin": int(((part["flags"] & FIN) > 0).sum()),
            "rst": int(((part["flags"] & RST) > 0).sum()),
            "retransmissions": int(part["retx"].sum()),
            "dup_acks": int(part["dup_ack"].sum()),
            "pure_acks": int(((part["flags"] == ACK) & (part["length"] == 0)).sum()),
            "data": int((part["length"] > 0).sum()),
        }
    return out
