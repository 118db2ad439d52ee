"""One cell's figures for the verdicts, from connections.parquet and capture-client.pcap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from closebench.seed.ladder import ladder
from closebench.seed.packets import FIN, connection_packets, read_tcp, teardown_composition
from closebench.seed.trace import tx_sources
from closebench.seed.verdicts import CellFigures

MAX_IDS = 25  # connection ids cited per figure (the rest are counted, not listed)
BACK_AND_FORTH_MIN = 2  # teardown packets each stack must send for a "back-and-forth"


def _events(cell_dir: Path) -> dict[str, float]:
    doc = json.loads((cell_dir / "events.json").read_text())
    out = {}
    for name, ev in (doc.get("events") or {}).items():
        value = ev.get("capture", ev.get("wall"))
        if value is not None:
            out[name] = float(value)
    return out


def _params(cell_dir: Path) -> dict[str, Any]:
    path = cell_dir / "metrics.json"
    if not path.exists():
        return {}
    return (json.loads(path.read_text()).get("analysis") or {}).get("params") or {}


def _ids(series: pd.Series) -> list[int]:
    return [int(x) for x in series.head(MAX_IDS)]


def _sum(parts: list[dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for part in parts:
        for side, counts in part.items():
            acc = out.setdefault(side, {})
            for key, value in counts.items():
                acc[key] = acc.get(key, 0) + value
    return out


def _fin_gap(tagged: pd.DataFrame) -> float | None:
    """Seconds from the device's last payload byte to its first FIN."""
    dev = tagged[tagged["from_device"]]
    data = dev[dev["length"] > 0]
    fins = dev[(dev["flags"] & FIN) > 0]
    if data.empty or fins.empty:
        return None
    return max(0.0, float(fins["ts"].iloc[0]) - float(data["ts"].iloc[-1]))


def cell_figures(
    cell_dir: Path, bounds: list[tuple[float, float, float]]
) -> tuple[CellFigures, dict[str, Any]]:
    """The figures of one cell and the extra evidence (phase windows, times) for seed.json."""
    conns = pd.read_parquet(cell_dir / "connections.parquet").sort_values("first_ts")
    conns = conns.reset_index(drop=True)
    events = _events(cell_dir)
    params = _params(cell_dir)
    start = events.get("load_start", float(conns["first_ts"].min()) if len(conns) else 0.0)
    stop = events.get("load_stop", start)
    margin_s = float(params.get("duel_min_ms", 1000.0)) / 1000.0
    packets = read_tcp(cell_dir / "capture-client.pcap")
    conns = _with_phases(conns, bounds, start)
    faulty = conns["faulty"].astype(bool)
    duel = conns["duel"].astype(bool)
    first = _first_fault(conns, faulty, bounds)

    tagged: dict[int, pd.DataFrame] = {}

    def packets_of(i: int) -> pd.DataFrame:
        if i not in tagged:
            tagged[i] = connection_packets(packets, conns.loc[i])
        return tagged[i]

    device_first = conns.index[conns["closer"] == "device"]
    gaps = [g for i in device_first if (g := _fin_gap(packets_of(i))) is not None]
    comp = {i: teardown_composition(packets_of(i)) for i in conns.index[duel | faulty]}
    back = [
        i
        for i in conns.index[duel]
        if all(
            comp[i].get(s, {}).get("packets", 0) >= BACK_AND_FORTH_MIN for s in ("device", "client")
        )
    ]
    late_duels = [i for i in back if _both_talk_after(packets_of(i), stop + margin_s)]
    first_pos = first["first_pos"]
    duels_after = [i for i in back if first_pos is not None and i > first_pos and faulty[i]]
    sources = tx_sources(cell_dir)  # the device program's trace point, where the build has it
    cid = lambda idx: [int(conns.loc[i, "conn_id"]) for i in idx]  # noqa: E731
    figures = CellFigures(
        cell_id=cell_dir.name,
        connections=len(conns),
        first_faulty=first["first_faulty"],
        clean_before_first_fault=int(first["clean_before"]),
        faulty_after_first=first["faulty_after"],
        after_first=first["after_first"],
        closers={str(k): int(v) for k, v in conns["closer"].value_counts().items()},
        device_fin_gap_s_median=round(float(pd.Series(gaps).median()), 4) if gaps else None,
        duels=cid(conns.index[duel]),
        back_and_forth=cid(back),
        after_load=_after_load(conns, packets, events, stop, margin_s),
        after_load_duels=cid(late_duels),
        phases=_phase_rows(conns, bounds),
        composition=_sum([comp[i] for i in conns.index[duel]]),
        duels_after_first=len(duels_after),
    )
    kinds = conns.loc[faulty, "close_kind"].value_counts()
    extra = {
        "load_start_epoch_s": start,
        "faulty": int(faulty.sum()),
        "faulty_close_kinds": {str(k): int(v) for k, v in kinds.items()},
        "faulty_conn_ids": _ids(conns.loc[faulty, "conn_id"]),
        "device_first_conn_ids": _ids(conns.loc[device_first, "conn_id"]),
        "device_fin_gaps_measured": len(gaps),
        "faulty_composition": _sum([comp[i] for i in conns.index[faulty]]),
        "teardown_ms_p50_faulty": _p50(conns.loc[faulty, "teardown_ms"]),
        "teardown_ms_max_duel": _max(conns.loc[duel, "teardown_ms"]),
        "duel_conn_ids": _ids(conns.loc[duel, "conn_id"]),
        # every back-and-forth duel's ladder (closebench.seed.ladder), the obs. 5 duels
        "duel_ladders": [
            {"conn_id": int(conns.loc[i, "conn_id"]), **ladder(packets_of(i), stop, sources)}
            for i in back
        ],
    }
    return figures, extra


def _with_phases(
    conns: pd.DataFrame, bounds: list[tuple[float, float, float]], start: float
) -> pd.DataFrame:
    """Each connection's phase (1-based, by its start after the load's) and start time t_s."""
    rel = conns["first_ts"] - start
    phase = pd.Series(len(bounds), index=conns.index)
    for i, (_, end, _) in reversed(list(enumerate(bounds, 1))):
        phase[rel < end] = i
    return conns.assign(phase=phase, t_s=rel)


def _first_fault(
    conns: pd.DataFrame, faulty: pd.Series, bounds: list[tuple[float, float, float]]
) -> dict[str, Any]:
    """The first faulty connection, how many clean ones came before it, and what followed."""
    if not faulty.any():
        return {"first_faulty": None, "clean_before": len(conns), "after_first": 0,
                "faulty_after": 0, "first_pos": None}  # fmt: skip
    pos = int(faulty.to_numpy().argmax())
    row = conns.iloc[pos]
    return {
        "first_faulty": {
            "conn_id": int(row["conn_id"]),
            "index": pos + 1,
            "t_s": round(float(row["t_s"]), 3),
            "phase": int(row["phase"]),
            "interval_s": bounds[int(row["phase"]) - 1][2],
            "close_kind": str(row["close_kind"]),
        },
        "clean_before": pos,
        "first_pos": pos,
        "after_first": len(conns) - pos - 1,
        "faulty_after": int(faulty.iloc[pos + 1 :].sum()),
    }


def _both_talk_after(tagged: pd.DataFrame, after: float) -> bool:
    """Both the device and the client still send packets of this connection after `after`."""
    late = tagged[tagged["ts"] > after]
    return bool(late["from_device"].any() and (~late["from_device"]).any())


def _after_load(
    conns: pd.DataFrame,
    packets: pd.DataFrame,
    events: dict[str, float],
    stop: float,
    margin_s: float,
) -> dict[str, Any]:
    """What the wire carried after the load stopped (plus the duel margin)."""
    late = packets[packets["ts"] > stop + margin_s] if len(packets) else packets
    dev_ip = str(conns["device_ip"].iloc[0]) if len(conns) else ""
    late_conns = conns.index[conns["last_ts"] > stop + margin_s]
    return {
        "load_stop_epoch_s": stop,
        "margin_s": margin_s,
        "packets": len(late),
        "from_device": int((late["src"] == dev_ip).sum()) if len(late) else 0,
        "from_client": int((late["src"] != dev_ip).sum()) if len(late) else 0,
        "rst": int(((late["flags"] & 0x04) > 0).sum()) if len(late) else 0,
        "last_packet_after_stop_s": round(float(packets["ts"].max()) - stop, 3)
        if len(packets)
        else None,
        "connections": len(late_conns),
        "conn_ids": _ids(conns.loc[late_conns, "conn_id"]),
        "cooldown_end_after_stop_s": round(events["cooldown_end"] - stop, 3)
        if "cooldown_end" in events
        else None,
    }


def _phase_rows(
    conns: pd.DataFrame, bounds: list[tuple[float, float, float]]
) -> list[dict[str, Any]]:
    """Per load phase: its window, connections, faulty ones and duels."""
    rows = []
    for i, (b0, b1, interval) in enumerate(bounds, 1):
        part = conns[conns["phase"] == i]
        rows.append(
            {
                "phase": i,
                "interval_s": interval,
                "window_s": [round(b0, 3), round(b1, 3) if b1 != float("inf") else None],
                "connections": len(part),
                "faulty": int(part["faulty"].astype(bool).sum()),
                "duels": int(part["duel"].astype(bool).sum()),
                "faulty_conn_ids": _ids(part.loc[part["faulty"].astype(bool), "conn_id"]),
            }
        )
    return rows


def _p50(s: pd.Series) -> float | None:
    s = pd.to_numeric(s, errors="coerce").dropna()
    return round(float(s.median()), 3) if len(s) else None


def _max(s: pd.Series) -> float | None:
    s = pd.to_numeric(s, errors="coerce").dropna()
    return round(float(s.max()), 3) if len(s) else None
