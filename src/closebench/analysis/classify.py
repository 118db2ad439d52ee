"""Turn a finished Conn into one connections.parquet row: roles, Zeek state, close kind."""

from __future__ import annotations

import math
import re

import pandas as pd

from closebench.analysis.decode import AddressBook
from closebench.analysis.params import AnalysisParams
from closebench.analysis.tracker import (
    CLOSED,
    ESTABLISHED,
    INACTIVE,
    PARTIAL,
    RESET,
    SYN_ACK_SENT,
    SYN_SENT,
    Conn,
    Side,
    seq_gt,
)

CLOSE_KINDS = (
    "graceful",
    "rst_device",
    "rst_client",
    "rst_after_fin",
    "half_closed",
    "abandoned",
    "refused",
    "syn_unanswered",
)
COLUMNS = (
    "conn_id",
    "stream",
    "client_ip",
    "client_port",
    "device_ip",
    "device_port",
    "first_ts",
    "last_ts",
    "duration_ms",
    "pkts",
    "pkts_client",
    "pkts_device",
    "bytes_client",
    "bytes_device",
    "syn",
    "synack",
    "fin_client",
    "fin_device",
    "rst_client",
    "rst_device",
    "retx",
    "fin_retx_device",
    "fin_retx_client",
    "syn_retx",
    "state",
    "history",
    "closer",
    "close_kind",
    "teardown_pkts",
    "teardown_dupacks",
    "teardown_ms",
    "after_load_ms",
    "faulty",
    "duel",
)
_RSTOS0 = re.compile(r"^\^?S[^HAFGIQ]*R.*")


def zeek_conn_state(orig: Side, resp: Side, history: str) -> str:
    """Zeek's conn_state() over the two endpoint states (main.zeek)."""
    o, r = orig.state, resp.state
    if r == RESET:
        if o in (SYN_SENT, SYN_ACK_SENT) or (o == RESET and orig.bytes == 0 and resp.bytes == 0):
            return "REJ"
        return "RSTRH" if o in (INACTIVE, PARTIAL) else "RSTR"
    if o == RESET:
        if r in (INACTIVE, PARTIAL):
            return "RSTOS0" if _RSTOS0.match(history) else "OTH"
        return "RSTO"
    if o == CLOSED and r == CLOSED:
        return "SF"
    if o == CLOSED:
        return "SH" if r == INACTIVE else "S2"
    if r == CLOSED:
        return "SHR" if o == INACTIVE else "S3"
    if o == SYN_SENT and r == INACTIVE:
        return "S0"
    if o == ESTABLISHED and r == ESTABLISHED:
        return "S1"
    return "OTH"


def _fin_acked(fin_side: Side, peer: Side) -> bool:
    """Did the peer acknowledge this side's FIN (an ACK past the FIN's sequence number)?"""
    return fin_side.fin > 0 and peer.pkts > 0 and seq_gt(peer.lastack, fin_side.first_fin_seq)


def _first_fin(client: Side, device: Side) -> str:
    """Who closed first, decided by ACK coverage rather than capture order."""
    if client.fin and device.fin:
        c_acks_d = client.first_fin_ack is not None and seq_gt(
            client.first_fin_ack, device.first_fin_seq
        )
        d_acks_c = device.first_fin_ack is not None and seq_gt(
            device.first_fin_ack, client.first_fin_seq
        )
        if c_acks_d and not d_acks_c:
            return "device"
        if d_acks_c and not c_acks_d:
            return "client"
        # Crossing FINs (simultaneous close): fall back to capture order.
        return "client" if client.first_fin_ts <= device.first_fin_ts else "device"
    if client.fin:
        return "client"
    if device.fin:
        return "device"
    return "none"


def _closer(client: Side, device: Side) -> str:
    fin_first = _first_fin(client, device)
    rsts = [
        (s.first_rst_ts, name)
        for s, name in ((client, "client"), (device, "device"))
        if s.first_rst_ts is not None
    ]
    if not rsts:
        return fin_first
    rst_ts, rst_name = min(rsts)
    fin_ts = min(
        (s.first_fin_ts for s in (client, device) if s.first_fin_ts is not None), default=None
    )
    if fin_first == "none" or (fin_ts is not None and rst_ts < fin_ts):
        return rst_name
    return fin_first


def _close_kind(conn: Conn, client: Side, device: Side, client_ep: int) -> str:
    syn_seen = conn.syn_sender is not None
    if syn_seen and conn.synack_sender is None:
        answered = device.pkts > 0
        if device.rst and device.synack == 0 and device.fin == 0 and device.bytes == 0:
            return "refused"
        if not answered and not client.rst and not client.fin:
            return "syn_unanswered"
    if client.rst or device.rst:
        first_rst = conn.first_rst_ts_any
        if conn.first_fin_ts_any is not None and conn.first_fin_ts_any <= first_rst:
            return "rst_after_fin"
        c, d = client.first_rst_ts, device.first_rst_ts
        if c is not None and (d is None or c <= d):
            return "rst_client"
        return "rst_device"
    if client.fin and device.fin:
        if _fin_acked(client, device) and _fin_acked(device, client):
            return "graceful"
        return "half_closed"
    if client.fin or device.fin:
        return "half_closed"
    if syn_seen and conn.synack_sender is None and device.pkts == 0:
        return "syn_unanswered"
    return "abandoned"


def _roles(conn: Conn, book: AddressBook, device_ip: str | None) -> int:
    """Return the client endpoint: SYN sender, else not the device_ip, else heuristics."""
    if conn.syn_sender is not None:
        return conn.syn_sender
    if device_ip is not None:
        if book.ip_of(conn.ep_a) == device_ip:
            return conn.ep_b
        if book.ip_of(conn.ep_b) == device_ip:
            return conn.ep_a
    if conn.synack_sender is not None:
        return conn.ep_b if conn.synack_sender == conn.ep_a else conn.ep_a
    # No handshake seen: the lower port is most likely the server (the device).
    return conn.ep_b if (conn.ep_a & 0xFFFF) < (conn.ep_b & 0xFFFF) else conn.ep_a


def conn_row(
    conn: Conn,
    book: AddressBook,
    device_ip: str | None,
    load_stop: float | None,
    params: AnalysisParams,
) -> tuple:
    client_ep = _roles(conn, book, device_ip)
    device_ep = conn.ep_b if client_ep == conn.ep_a else conn.ep_a
    client, device = (conn.a, conn.b) if client_ep == conn.ep_a else (conn.b, conn.a)
    orig, resp = (conn.a, conn.b) if conn.orig == conn.ep_a else (conn.b, conn.a)
    history = "".join(conn.history)
    state = zeek_conn_state(orig, resp, history)
    kind = _close_kind(conn, client, device, client_ep)
    closer = _closer(client, device)
    teardown_ms = (
        (conn.last_ts - conn.teardown_ts) * 1000.0 if conn.teardown_ts is not None else math.nan
    )
    after_load_ms = math.nan if load_stop is None else max(0.0, (conn.last_ts - load_stop) * 1000.0)
    fin_retx = client.fin_retx + device.fin_retx
    has_rst = client.rst + device.rst > 0
    faulty = not (
        kind == "graceful"
        and fin_retx == 0
        and not has_rst
        and conn.teardown_pkts <= params.clean_teardown_max_pkts
    )
    long_enough = not math.isnan(teardown_ms) and teardown_ms >= params.duel_min_ms
    past_load = load_stop is not None and conn.teardown_ts is not None and conn.last_ts > load_stop
    duel = conn.teardown_pkts >= params.duel_min_teardown_pkts and (long_enough or past_load)
    return (
        conn.stream,
        conn.stream,
        book.ip_of(client_ep),
        client_ep & 0xFFFF,
        book.ip_of(device_ep),
        device_ep & 0xFFFF,
        conn.first_ts,
        conn.last_ts,
        (conn.last_ts - conn.first_ts) * 1000.0,
        conn.pkts,
        client.pkts,
        device.pkts,
        client.bytes,
        device.bytes,
        client.syn + device.syn,
        client.synack + device.synack,
        client.fin,
        device.fin,
        client.rst,
        device.rst,
        client.retx + device.retx,
        device.fin_retx,
        client.fin_retx,
        client.syn_retx + device.syn_retx,
        state,
        history,
        closer,
        kind,
        conn.teardown_pkts,
        conn.teardown_dupacks,
        teardown_ms,
        after_load_ms,
        faulty,
        duel,
    )


_INT_COLS = (
    "conn_id",
    "stream",
    "client_port",
    "device_port",
    "pkts",
    "pkts_client",
    "pkts_device",
    "bytes_client",
    "bytes_device",
    "syn",
    "synack",
    "fin_client",
    "fin_device",
    "rst_client",
    "rst_device",
    "retx",
    "fin_retx_device",
    "fin_retx_client",
    "syn_retx",
    "teardown_pkts",
    "teardown_dupacks",
)


def rows_frame(rows: list[tuple]) -> pd.DataFrame:
    """Build a compactly typed frame (rows are dropped by the caller right after)."""
    df = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    for col in _INT_COLS:
        df[col] = df[col].astype("int64")
    for col in ("first_ts", "last_ts", "duration_ms", "teardown_ms", "after_load_ms"):
        df[col] = df[col].astype("float64")
    for col in ("faulty", "duel"):
        df[col] = df[col].astype("bool")
    for col in ("client_ip", "device_ip", "state", "history", "closer", "close_kind"):
        df[col] = df[col].astype("string")
    return df
