"""tshark as an oracle for the teardown analyzer: per-tcp.stream counts must agree.

Usage (any test, any capture, also big bench captures):

    disagreements = compare_with_tshark(pcap, analyze_capture(pcap))
    assert not disagreements, "\\n".join(disagreements[:20])

What is compared, per tshark `tcp.stream` (= our `stream` column):
  pkts, SYN packets (SYN bit set, incl. SYN-ACK), FIN packets, RST packets,
  retransmitted segments, first and last packet time (1 us tolerance).
"Retransmitted" = tshark flags the frame with tcp.analysis.retransmission OR
tcp.analysis.fast_retransmission OR tcp.analysis.spurious_retransmission: Wireshark files
fast and spurious retransmissions as kinds of retransmission (the expert info of both
also carries the retransmission item), and out-of-order segments are not counted.
tshark runs with default preferences in one pass, streaming its output through pandas
in chunks, so memory stays flat for millions of packets.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FIELDS = (
    "tcp.stream",
    "frame.time_epoch",
    "tcp.flags",
    "tcp.analysis.retransmission",
    "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission",
)
TIME_TOLERANCE_S = 1e-6
CHUNK_ROWS = 500_000


def tshark_available() -> bool:
    return shutil.which("tshark") is not None


def tshark_streams(pcap: str | Path) -> pd.DataFrame:
    """Per-stream counts from `tshark -T fields`, indexed by tcp.stream."""
    cmd = ["tshark", "-n", "-r", str(pcap), "-Y", "tcp", "-T", "fields", "-E", "separator=/t"]
    for name in FIELDS:
        cmd += ["-e", name]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    parts: list[pd.DataFrame] = []
    reader = pd.read_csv(
        proc.stdout,
        sep="\t",
        header=None,
        names=["stream", "t", "flags", "r", "fr", "sr"],
        dtype={
            "stream": "string",
            "t": "float64",
            "flags": "string",
            "r": "string",
            "fr": "string",
            "sr": "string",
        },
        chunksize=CHUNK_ROWS,
        keep_default_na=False,
    )
    try:
        for chunk in reader:
            parts.append(_aggregate(chunk))
    except pd.errors.EmptyDataError:
        pass
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.wait() != 0:
        raise RuntimeError(f"tshark failed on {pcap}: {stderr.strip()[:500]}")
    if not parts:
        return _aggregate(pd.DataFrame(columns=["stream", "t", "flags", "r", "fr", "sr"]))
    all_parts = pd.concat(parts)
    return all_parts.groupby(level=0).agg(**PER_STREAM)


# Per-stream figures, summed over chunks the same way they are summed within one.
PER_STREAM = {
    "pkts": ("pkts", "sum"),
    "syn": ("syn", "sum"),
    "fin": ("fin", "sum"),
    "rst": ("rst", "sum"),
    "retx": ("retx", "sum"),
    "first_ts": ("first_ts", "min"),
    "last_ts": ("last_ts", "max"),
}


def _aggregate(chunk: pd.DataFrame) -> pd.DataFrame:
    # A frame with two TCP layers (e.g. ICMP error quoting a header) lists two streams;
    # the first one is the frame's own TCP layer.
    stream = chunk["stream"].astype("string").str.split(",").str[0]
    keep = stream.notna() & (stream != "")
    chunk = chunk[keep]
    stream = stream[keep].astype("int64")
    flags = (
        chunk["flags"]
        .astype("string")
        .str.split(",")
        .str[0]
        .map(lambda v: int(v, 16) if v else 0)
        .astype("int64")
    )
    retx = (chunk["r"] != "") | (chunk["fr"] != "") | (chunk["sr"] != "")
    frame = pd.DataFrame(
        {
            "stream": stream.to_numpy(),
            "pkts": 1,
            "syn": ((flags & 0x02) > 0).astype("int64").to_numpy(),
            "fin": ((flags & 0x01) > 0).astype("int64").to_numpy(),
            "rst": ((flags & 0x04) > 0).astype("int64").to_numpy(),
            "retx": retx.astype("int64").to_numpy(),
            "first_ts": chunk["t"].to_numpy(),
            "last_ts": chunk["t"].to_numpy(),
        }
    )
    return frame.groupby("stream").agg(**PER_STREAM)


def ours_by_stream(result: Any) -> pd.DataFrame:
    df = result.connections
    return pd.DataFrame(
        {
            "pkts": df["pkts"].to_numpy(),
            "syn": (df["syn"] + df["synack"]).to_numpy(),
            "fin": (df["fin_client"] + df["fin_device"]).to_numpy(),
            "rst": (df["rst_client"] + df["rst_device"]).to_numpy(),
            "retx": df["retx"].to_numpy(),
            "first_ts": df["first_ts"].to_numpy(),
            "last_ts": df["last_ts"].to_numpy(),
        },
        index=pd.Index(df["stream"].to_numpy(), name="stream"),
    )


def compare_with_tshark(pcap: str | Path, result: Any, limit: int = 200) -> list[str]:
    """Disagreements between tshark and `result` (an AnalysisResult); [] = agreement."""
    theirs = tshark_streams(pcap)
    ours = ours_by_stream(result)
    problems: list[str] = []
    for s in sorted(set(theirs.index) - set(ours.index))[:limit]:
        problems.append(f"stream {s}: tshark has it ({theirs.loc[s, 'pkts']} pkts), we do not")
    for s in sorted(set(ours.index) - set(theirs.index))[:limit]:
        problems.append(f"stream {s}: we have it ({ours.loc[s, 'pkts']} pkts), tshark does not")
    common = theirs.index.intersection(ours.index)
    t, o = theirs.loc[common], ours.loc[common]
    for col in ("pkts", "syn", "fin", "rst", "retx"):
        bad = common[t[col].to_numpy() != o[col].to_numpy()]
        for s in bad[:limit]:
            problems.append(f"stream {s}: {col} tshark={t.loc[s, col]} ours={o.loc[s, col]}")
    for col in ("first_ts", "last_ts"):
        diff = np.abs(t[col].to_numpy() - o[col].to_numpy())
        for s in common[diff > TIME_TOLERANCE_S][:limit]:
            problems.append(
                f"stream {s}: {col} tshark={t.loc[s, col]:.6f} ours={o.loc[s, col]:.6f}"
            )
    return problems
