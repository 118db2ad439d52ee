"""Stack faults versus loss recovery: who caused a close's extra packets, from both vantage points.

`faulty` counts any close that was not clean, so a FIN retransmitted because the link lost the
first one reads like a stack's fault. The bench captures each connection twice: on the client
side of the emulated link and at the device itself (before its outbound link, after its
inbound one). A packet one side sent that the other side's capture lacks was lost on the link.
So, per connection (client view, joined to the device view by ports and time):

- `link_lost_pkts`: packets the link dropped (client-sent packets the device never saw plus
  device-sent packets the client never saw); NaN where there is no device view (a board, or a
  capture analysed on its own).
- `link_reordered`: packets of this connection reached the other side in another order than
  they were sent (the emulated link reorders and jitters); checked only where it decides
  something (a troubled close with no packet lost), from both captures; NaN elsewhere.
- `stack_fault`: the close went wrong because of a stack: the device sent a RST, or the close
  did not end gracefully (half-closed, abandoned, refused, SYN unanswered, a client RST, ...)
  or ended gracefully with retransmitted FINs, RSTs or extra teardown packets, while the link
  neither lost nor reordered any of its packets (the stacks did it themselves: e.g. a FIN
  left unACKed).
- `loss_recovery`: trouble that follows the link: a close with retransmissions, extra packets
  or a client-side RST where the link lost or reordered packets of the connection (or, without
  a device view, a graceful close whose extra packets cannot be attributed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from closebench.capture.headers import AddressBook, decode_chunk
from closebench.capture.pcapfile import ReadReport, iter_chunks
from closebench.teardown.params import AnalysisParams
from closebench.teardown.rates import rate

# A device-view connection starts at most this long after the client's first SYN (the SYN's
# own retransmissions: Linux sends them 1, 3, 7 s after the first).
MATCH_WINDOW_S = 8.0
ATTRIBUTION_COLS = ("link_lost_pkts", "link_reordered", "stack_fault", "loss_recovery")
PORT_MASK = np.uint64(0xFFFF)


def _device_twin(client: pd.DataFrame, device: pd.DataFrame) -> pd.DataFrame:
    """For each client-view row, the device-view row of the same connection (or NaN)."""
    left = client[["client_port", "device_port", "first_ts"]].reset_index()
    right = device[["client_port", "device_port", "first_ts", "pkts_client", "pkts_device"]]
    right = right.rename(
        columns={"first_ts": "dev_first_ts", "pkts_client": "dev_in", "pkts_device": "dev_out"}
    )
    merged = pd.merge_asof(
        left.sort_values("first_ts"),
        right.sort_values("dev_first_ts"),
        left_on="first_ts",
        right_on="dev_first_ts",
        by=["client_port", "device_port"],
        direction="forward",
        tolerance=MATCH_WINDOW_S,
    )
    return merged.set_index("index").reindex(client.index)


def link_losses(client: pd.DataFrame, device: pd.DataFrame | None) -> pd.Series:
    """Packets of each connection that one side sent and the other never received."""
    if device is None:
        return pd.Series(np.nan, index=client.index, dtype=float)
    if device.empty:
        return client["pkts"].astype(float)
    twin = _device_twin(client, device)
    to_device = client["pkts_client"] - twin["dev_in"]  # sent by the client, not received
    to_client = twin["dev_out"] - client["pkts_device"]  # sent by the device, not received
    lost = to_device.clip(lower=0) + to_client.clip(lower=0)
    # no device row at all: nothing the client sent ever arrived
    return lost.where(twin["dev_first_ts"].notna(), client["pkts_client"]).astype(float)


def packet_table(path: Path) -> pd.DataFrame:
    """Every TCP packet of a capture: ts, sender and receiver port, seq, ack, flags, length."""
    report = ReadReport()
    book = AddressBook()
    parts = []
    for chunk in iter_chunks(Path(path), report):
        d = decode_chunk(chunk, book)
        parts.append(
            pd.DataFrame(
                {
                    "ts": d.ts,
                    "sport": (d.src & PORT_MASK).astype(np.int64),
                    "dport": (d.dst & PORT_MASK).astype(np.int64),
                    "seq": d.seq,
                    "ack": d.ack,
                    "flags": d.flags,
                    "plen": d.plen,
                }
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _order_changed(sent: pd.DataFrame, received: pd.DataFrame) -> bool:
    """True when packets that arrived did so in another order than they were sent."""
    key = ["seq", "ack", "flags", "plen"]
    sent = sent.drop_duplicates(key)
    arrived = received.drop_duplicates(key).reset_index(drop=True)
    arrived["pos"] = arrived.index
    both = sent.merge(arrived[[*key, "pos"]], on=key, how="inner")
    return bool((both["pos"].diff().dropna() < 0).any())


def reordered(row: pd.Series, client_pkts: pd.DataFrame, device_pkts: pd.DataFrame) -> bool:
    """Did the link reorder this connection's packets, in either direction?"""
    lo, hi = row["first_ts"] - 1.0, row["last_ts"] + MATCH_WINDOW_S

    def part(pkts: pd.DataFrame, sport: int, dport: int) -> pd.DataFrame:
        sel = (pkts["sport"] == sport) & (pkts["dport"] == dport)
        sel &= (pkts["ts"] >= lo) & (pkts["ts"] <= hi)
        return pkts[sel]

    c, d = int(row["client_port"]), int(row["device_port"])
    up = _order_changed(part(client_pkts, c, d), part(device_pkts, c, d))
    down = _order_changed(part(device_pkts, d, c), part(client_pkts, d, c))
    return up or down


def attribute(
    client: pd.DataFrame,
    device: pd.DataFrame | None,
    params: AnalysisParams | None = None,
    *,
    captures: tuple[Path, Path] | None = None,
) -> pd.DataFrame:
    """The client-view table with link_lost_pkts, link_reordered, stack_fault, loss_recovery.

    captures: (client pcap, device pcap) to check reordering where a troubled close lost no
    packet; without them such a close counts as the stacks' doing.
    """
    params = params or AnalysisParams()
    lost = link_losses(client, device)
    kind = client["close_kind"].astype(str)
    graceful = kind == "graceful"
    anomalous = (
        (client["fin_retx_client"] + client["fin_retx_device"] > 0)
        | (client["rst_client"] + client["rst_device"] > 0)
        | (client["teardown_pkts"] > params.clean_teardown_max_pkts)
    )
    troubled = ~graceful | anomalous
    known = lost.notna()
    reorder = pd.Series(np.nan, index=client.index, dtype=float)
    if captures is not None and known.any():
        ask = troubled & known & (lost == 0)
        if ask.any():
            cpk, dpk = packet_table(captures[0]), packet_table(captures[1])
            for i in client.index[ask]:
                reorder[i] = float(reordered(client.loc[i], cpk, dpk))
    disturbed = (known & (lost > 0)) | (reorder == 1.0)
    device_rst = client["rst_device"] > 0
    undetermined = ~known & graceful  # no device view: a graceful close's extras stay open
    stack_fault = troubled & (device_rst | (~disturbed & ~undetermined))
    out = client.copy()
    out["link_lost_pkts"] = lost
    out["link_reordered"] = reorder
    out["stack_fault"] = stack_fault.to_numpy(dtype=bool)
    out["loss_recovery"] = (troubled & ~stack_fault & (disturbed | undetermined)).to_numpy(
        dtype=bool
    )
    return out


def attribution_summary(conns: pd.DataFrame) -> dict[str, object]:
    """metrics.json's analysis figures for the two kinds of trouble (Wilson 95% intervals)."""
    n = len(conns)
    lost = conns["link_lost_pkts"]
    return {
        "stack_fault": rate(int(conns["stack_fault"].sum()) if n else 0, n),
        "loss_recovery": rate(int(conns["loss_recovery"].sum()) if n else 0, n),
        "link_lost_pkts": int(lost.sum()) if n and lost.notna().any() else None,
    }
