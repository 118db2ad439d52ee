"""Stack faults versus loss recovery: who caused a close's extra packets, from both vantage points.

`faulty` counts any close that was not clean, so a FIN retransmitted because the link lost the
first one reads like a stack's fault. The bench captures each connection twice: on the client
side of the emulated link and at the device itself (before its outbound link, after its
inbound one). A packet one side sent that the other side's capture lacks was lost on the link.
So, per connection (client view, joined to the device view by ports and time):

- `link_lost_pkts`: packets the link dropped (client-sent packets the device never saw plus
  device-sent packets the client never saw); NaN where there is no device view (a board, or a
  capture analysed on its own).
- `stack_fault`: the close went wrong because of a stack: it did not end gracefully (RST,
  half-closed, abandoned, refused, SYN unanswered, ...), or it ended gracefully but with
  retransmitted FINs or extra teardown packets while the link lost none of its packets (the
  stack itself did not answer in time: e.g. a FIN left unACKed). A SYN that went unanswered
  only because the link lost every packet of it is not a stack fault.
- `loss_recovery`: a graceful close whose retransmissions or extra teardown packets come with
  packets the link lost (or, without a device view, cannot be attributed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from closebench.analysis.params import AnalysisParams
from closebench.analysis.summary import rate

# A device-view connection starts at most this long after the client's first SYN (the SYN's
# own retransmissions: Linux sends them 1, 3, 7 s after the first).
MATCH_WINDOW_S = 8.0
ATTRIBUTION_COLS = ("link_lost_pkts", "stack_fault", "loss_recovery")


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


def attribute(
    client: pd.DataFrame, device: pd.DataFrame | None, params: AnalysisParams | None = None
) -> pd.DataFrame:
    """The client-view table with link_lost_pkts, stack_fault and loss_recovery added."""
    params = params or AnalysisParams()
    lost = link_losses(client, device)
    graceful = client["close_kind"].astype(str) == "graceful"
    anomalous = (
        (client["fin_retx_client"] + client["fin_retx_device"] > 0)
        | (client["rst_client"] + client["rst_device"] > 0)
        | (client["teardown_pkts"] > params.clean_teardown_max_pkts)
    )
    known = lost.notna()
    lossless = known & (lost == 0)
    all_lost = known & (lost >= client["pkts_client"]) & (client["pkts_device"] == 0)
    unanswered = client["close_kind"].astype(str) == "syn_unanswered"
    stack_fault = (~graceful & ~(unanswered & all_lost)) | (graceful & anomalous & lossless)
    out = client.copy()
    out["link_lost_pkts"] = lost
    out["stack_fault"] = stack_fault.to_numpy(dtype=bool)
    out["loss_recovery"] = (graceful & anomalous & ~lossless).to_numpy(dtype=bool)
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
