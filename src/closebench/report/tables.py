"""The report's tables as DataFrames (rendered to HTML by the notebook, to markdown by summary)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from closebench.report.data import RunData
from closebench.report.pcap import capture_span
from closebench.report.stats import fault_table, fmt_rate, stack_summaries
from closebench.variants.timing import HOST_LABEL, MODEL_SPEEDS, speed_label


def _s(value: Any) -> str:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_s(v)}" for k, v in value.items()) or "–"
    if isinstance(value, list | tuple):
        return ", ".join(_s(v) for v in value) or "–"
    return str(value)


def _round(value: Any, digits: int = 2) -> Any:
    return round(value, digits) if isinstance(value, float) else _s(value)


def _cluster_rows(m: dict[str, Any]) -> list[tuple[str, str]]:
    """A run measured on a Dask cluster: which workers, on which hosts (the host row above
    is the orchestrator's); a mixture of hosts is said in so many words."""
    workers = m.get("workers") or {}
    if not m.get("cluster"):
        return []
    hosts = sorted(
        {
            f"{_s(h.get('hostname'))} (kernel {_s(h.get('kernel'))}, {_s(h.get('machine'))}, "
            f"{_s(h.get('cpus'))} CPUs)"
            for h in workers.values()
        }
    )
    mixed = "MIXED HOSTS: " if len(hosts) > 1 else ""
    return [
        ("cluster", f"{_s(m['cluster'].get('spec'))}, {len(workers)} worker(s)"),
        ("cells measured on", mixed + "; ".join(hosts) if hosts else "–"),
    ]


def _hardware_rows(m: dict[str, Any]) -> list[tuple[str, str]]:
    """A run on a real board: which board, where the load went, and from where it came."""
    hw = m.get("hardware")
    if not hw:
        return []
    spread = hw.get("load") or {"mode": "local", "workers": 1}
    if spread.get("mode") == "remote":
        source = (
            f"{_s(spread.get('workers'))} locust worker(s) on other hosts, joined to the master "
            f"at {_s(spread.get('master_bind'))}; captured on this host"
        )
    else:
        source = f"this host, {_s(spread.get('workers'))} locust process(es)"
    return [
        (
            "board",
            f"{_s(hw.get('board'))} ({_s(hw.get('chip'))}) on {_s(hw.get('port'))}, device "
            f"{_s(hw.get('device_address'))}:{_s(hw.get('http_port'))}, captured on "
            f"{_s(hw.get('capture_interface'))}",
        ),
        ("load from", source),
    ]


def run_facts(run: RunData) -> pd.DataFrame:
    m = run.manifest
    suite = m.get("suite") or {}
    host = m.get("host") or {}
    matrix = m.get("matrix") or {}
    sha = _s(suite.get("git_sha"))[:12] + (" (dirty)" if suite.get("git_dirty") else "")
    statuses = pd.Series([c.status.split(":")[0] for c in run.cells]).value_counts()
    rows = [
        ("run id", m.get("run_id") or run.run_dir.name),
        ("complete", "yes" if run.complete else "NO: the run was interrupted or is still running"),
        ("backend", m.get("backend")),
        ("started / finished (UTC)", f"{_s(m.get('started'))} / {_s(m.get('finished'))}"),
        ("suite", f"closebench {_s(suite.get('version'))}, git {sha}"),
        (
            "host",
            f"kernel {_s(host.get('kernel'))}, {_s(host.get('machine'))}, "
            f"{_s(host.get('cpus'))} CPUs, Python {_s(host.get('python'))}",
        ),
        *_cluster_rows(m),
        *_hardware_rows(m),
        ("tools", _s(m.get("tools"))),
        ("variants", _s(matrix.get("variants") or sorted({c.variant for c in run.cells}))),
        ("load profiles", _s(matrix.get("profiles") or sorted({c.profile for c in run.cells}))),
        ("link profiles", _s(matrix.get("links") or sorted({c.link for c in run.cells}))),
        ("repetitions", _s(matrix.get("repetitions"))),
        (
            "lwIP releases",
            _s(
                matrix.get("lwip") or sorted({c.lwip for c in run.cells if c.lwip not in ("", "?")})
            ),
        ),
        ("cooldown after load", f"{_s(m.get('cooldown_s'))} s"),
        ("cells", ", ".join(f"{n} {k}" for k, n in statuses.items()) or "none"),
    ]
    return pd.DataFrame(rows, columns=["", "value"]).assign(value=lambda d: d["value"].map(_s))


def variants_table(run: RunData) -> pd.DataFrame:
    rows = []
    for variant in dict.fromkeys(c.variant for c in run.cells):
        info = run.variant_info(variant)
        lwips = sorted({c.lwip for c in run.cells if c.variant == variant})
        sha = _s(info.get("tarball_sha256") or info.get("sha256"))
        rows.append(
            {
                "variant": variant,
                "stack": _s(info.get("stack")),
                "runs on": runs_on(info, lwips),
                "close behaviour": _s(info.get("close_behaviour") or info.get("close")),
                "options": _s(info.get("options")),
                "chip speed": chip_speed(info),
                "tarball sha256": sha[:16] + "…" if len(sha) > 16 else sha,
            }
        )
    return pd.DataFrame(rows)


def runs_on(info: dict, lwips: list[str]) -> str:
    """Exact source (repo@commit) or the approximation's lwIP release (older runs: release only)."""
    if info.get("kind") == "linux":
        return "the Linux kernel's TCP"
    return _s(info.get("source") or f"approximation on lwIP {', '.join(lwips)}")


def chip_speed(info: dict) -> str:
    """The device timing model a variant ran on (issue 14), or host speed (older runs too)."""
    if info.get("kind") == "linux":
        return "host (the kernel)"
    timing = info.get("timing")
    label = speed_label(info.get("device_speed"), timing)
    if not isinstance(timing, dict) or label == HOST_LABEL:
        return label
    return f"{label}, ceiling ~{timing.get('ceiling_conn_per_s', 0):.0f} conn/s"


def _band_lines(timing: dict) -> list[str]:
    """Each figure's interval [low, model, high] us and its source (issue 25's [timing])."""
    lines = []
    speed = timing.get("speed") or "model"
    if speed != "model":
        lines.append(f"run at {speed}: every figure below at that end of its interval")
    for half, events in (timing.get("band") or {}).items():
        for ev, fig in events.items():
            low, model, high = fig.get("us") or [None] * 3
            lines.append(f"{half} {ev}: {low} / {model} / {high} us ({_s(fig.get('source'))})")
    cpi = timing.get("cpi")
    if isinstance(cpi, dict):
        ends = f"{cpi.get('fast')} / {cpi.get('model')} / {cpi.get('slow')}"
        lines.append(f"CPI {ends}: {_s(cpi.get('source'))}")
    return lines


def timing_models(run: RunData) -> dict[str, list[str]]:
    """Each modelled variant's costs per event, with the sources and assumptions behind them."""
    out = {}
    for variant in dict.fromkeys(c.variant for c in run.cells):
        info = run.variant_info(variant)
        timing = info.get("timing")
        if info.get("device_speed") not in MODEL_SPEEDS or not isinstance(timing, dict):
            continue
        costs = ", ".join(
            f"{ev} {c.get('stack')}+{c.get('app')} us"
            for ev, c in (timing.get("costs_us") or {}).items()
        )
        out[variant] = [
            f"{_s(timing.get('cpu'))}: stack+app per event: {costs}; timer tick every "
            f"{timing.get('tick_ms')} ms; {timing.get('queue')} frames may wait for the core",
            *_band_lines(timing),
            *(f"source: {_s(x)}" for x in timing.get("sources") or []),
            *(f"ASSUMPTION: {_s(x)}" for x in timing.get("assumptions") or []),
        ]
    return out


def known_differences(run: RunData) -> dict[str, list[str]]:
    out = {}
    for variant in dict.fromkeys(c.variant for c in run.cells):
        diffs = run.variant_info(variant).get("known_differences")
        if isinstance(diffs, str):
            diffs = [diffs]
        elif isinstance(diffs, dict):
            diffs = [f"{k}: {_s(v)}" for k, v in diffs.items()]
        out[variant] = [_s(d) for d in diffs or []]
    return out


def cells_table(run: RunData) -> pd.DataFrame:
    conns = run.connections
    counts = conns["cell_id"].value_counts() if not conns.empty else pd.Series(dtype=int)
    return pd.DataFrame(
        [
            {
                "cell": c.id,
                "stack": c.stack,
                "profile / link": c.condition,
                "rep": c.repetition,
                "status": c.status,
                "connections": int(counts.get(c.id, 0)),
                "seed": (c.metrics.get("cell") or {}).get("seed", "–"),
            }
            for c in run.cells
        ]
    )


def fault_rate_display(run: RunData) -> pd.DataFrame:
    t = fault_table(run)
    if t.empty:
        return t
    return pd.DataFrame(
        {
            "stack": t["stack"],
            "profile / link": t["condition"],
            "cells": t["cells"],
            "connections": t["connections"],
            "stack faults": t["faulty"],
            "stack-fault rate [95% CI]": [
                fmt_rate(r, lo, hi)
                for r, lo, hi in zip(t["rate"], t["ci_low"], t["ci_high"], strict=True)
            ],
            "loss recovery": t["loss_recovery"],
            "duels": t["duels"],
            "status": t["status"],
        }
    )


def verdicts(run: RunData) -> pd.DataFrame:
    return pd.DataFrame(
        [{"stack": s.stack, "verdict": s.verdict} for s in stack_summaries(run)],
        columns=["stack", "verdict"],
    )


def lwip_side_by_side(run: RunData) -> pd.DataFrame:
    """Only variants measured on more than one lwIP release: releases as columns."""
    multi = {
        v
        for v in {c.variant for c in run.cells}
        if len({c.lwip for c in run.cells if c.variant == v}) > 1
    }
    if not multi:
        return pd.DataFrame()
    t = fault_table(run)
    lwip_of = {c.stack: (c.variant, c.lwip) for c in run.cells}
    t = t[t["stack"].map(lambda s: lwip_of[s][0] in multi)].copy()
    t["variant"] = t["stack"].map(lambda s: lwip_of[s][0])
    t["lwIP"] = "lwIP " + t["stack"].map(lambda s: lwip_of[s][1])
    t["value"] = [
        fmt_rate(r, lo, hi) + f" (n={n}, duels={d})"
        for r, lo, hi, n, d in zip(
            t["rate"], t["ci_low"], t["ci_high"], t["connections"], t["duels"], strict=True
        )
    ]
    return t.pivot(index=["variant", "condition"], columns="lwIP", values="value").fillna("–")


def after_load_table(run: RunData) -> pd.DataFrame:
    """Per ok cell: the capture's last packet and the longest connection after load_stop."""
    conns = run.connections
    rows = []
    for c in run.cells:
        if not c.ok:
            continue
        stop = c.event("load_stop")
        span = capture_span(c.dir / "capture-client.pcap")
        sub = conns[conns["cell_id"] == c.id] if not conns.empty else pd.DataFrame()
        after = pd.to_numeric(sub.get("after_load_ms", pd.Series(dtype=float)), errors="coerce")
        rows.append(
            {
                "stack": c.stack,
                "cell": f"{c.stack} · {c.condition} r{c.repetition}",
                "load_stop": stop,
                "capture_tail_s": (span[1] - stop) if span and stop is not None else math.nan,
                "longest_conn_after_s": after.max() / 1000 if after.notna().any() else math.nan,
                "conns_active_after_stop": int((after > 0).sum()),
            }
        )
    return pd.DataFrame(rows)


def capture_table(run: RunData) -> pd.DataFrame:
    rows = []
    for c in run.cells:
        cap = c.metrics.get("capture") or {}
        client, device = cap.get("client") or {}, cap.get("device") or {}
        complete = cap.get("complete")
        rows.append(
            {
                "cell": c.id,
                "status": c.status,
                "client pkts": client.get("packets", "–"),
                "kernel drops": client.get("dropped_kernel", "–"),
                "ifc drops": client.get("dropped_ifc", "–"),
                "device pkts": device.get("packets", "–"),
                "device drops": device.get("dropped", "–"),
                "complete": "yes" if complete is True else "NO" if complete is False else "unknown",
            }
        )
    return pd.DataFrame(rows)


def load_table(run: RunData) -> pd.DataFrame:
    rows = []
    for c in run.cells:
        load = c.metrics.get("load") or {}
        if not load:
            continue
        rows.append(
            {
                "cell": c.id,
                "requests": load.get("requests", "–"),
                "ok": load.get("ok", "–"),
                "failed": load.get("failed", "–"),
                "latency p50 ms": _round(load.get("latency_ms_p50")),
                "latency p99 ms": _round(load.get("latency_ms_p99")),
                "req/s": _round(load.get("rps")),
                "SYNs in capture": load.get("syns_in_capture", "–"),
                "conns = requests": load.get("connections_match_requests", "–"),
            }
        )
    return pd.DataFrame(rows)


def failures_table(run: RunData) -> pd.DataFrame:
    """Failures by kind: stacks as rows, kinds as columns (pooled over cells)."""
    rows = []
    for c in run.cells:
        for kind, n in ((c.metrics.get("load") or {}).get("failures") or {}).items():
            rows.append({"stack": c.stack, "kind": kind, "n": n})
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).pivot_table(
        index="stack", columns="kind", values="n", aggfunc="sum", fill_value=0
    )


def device_peaks(run: RunData) -> pd.DataFrame:
    rows = []
    for c in run.cells:
        dev = c.metrics.get("device") or {}
        rows.append(
            {
                "cell": c.id,
                "peak PCBs": dev.get("peak_pcbs", "–"),
                "peak TIME_WAIT": dev.get("peak_time_wait", "–"),
                "alloc failures": dev.get("alloc_fail", "–"),
                "SYNs dropped": dev.get("syn_dropped", "–"),
                "culled": dev.get("culled", "–"),
            }
        )
    return pd.DataFrame(rows)


def fingerprint(run: RunData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Probe results: (measured values, pass flags), behaviours x variants."""
    measured: dict[str, dict[str, str]] = {}
    passed: dict[str, dict[str, bool | None]] = {}
    for variant, data in run.probes.items():
        for r in data.get("results") or []:
            b = str(r.get("behaviour", "?"))
            exp = r.get("expected")
            text = _s(r.get("measured"))
            if r.get("pass") is False and exp is not None:
                text += f" (expected {_s(exp)})"
            measured.setdefault(b, {})[variant] = text
            passed.setdefault(b, {})[variant] = r.get("pass")
    frame = pd.DataFrame(measured).T.fillna("–")
    frame.index.name = "behaviour"
    return frame, pd.DataFrame(passed).T


def _characteristic(conns: pd.DataFrame, lossless: pd.Series) -> tuple[pd.Series, str]:
    """One stack's connection that shows its fault best, and why it was picked.

    Of the stack's most frequent faulty close_kind: a teardown duel first (the original
    test's finding), then the fewest retransmissions and a lossless link (a fault of the
    stack, not of the link), then the most teardown packets. With no fault at all: the most
    teardown packets.
    """
    tms = pd.to_numeric(conns.get("teardown_ms"), errors="coerce").fillna(-1)
    duel = conns["duel"].astype(bool) if "duel" in conns else False
    conns = conns.assign(_tms=tms, _retx=conns.get("retx", 0), _duel=duel, _lossless=lossless)
    faulty = conns[conns["faulty"].astype(bool)] if "faulty" in conns else conns.iloc[:0]
    if faulty.empty:
        pick = conns.sort_values(["teardown_pkts", "_tms"], ascending=False).iloc[0]
        why = "no faulty connection: the one with the most teardown packets"
    else:
        kinds = faulty["close_kind"].value_counts()
        kind = str(kinds.index[0])
        same = faulty[faulty["close_kind"] == kind]
        pick = same.sort_values(
            ["_duel", "_retx", "_lossless", "teardown_pkts", "_tms"],
            ascending=[False, True, False, False, False],
        ).iloc[0]
        # a faulty "graceful" close had both FINs but retransmitted one or took extra packets
        label = "graceful but not clean" if kind == "graceful" else kind
        why = f"the most frequent fault, {label} ({kinds.iloc[0]} of {len(faulty)} faulty)"
        if pick["_duel"]:
            why += ", a teardown duel"
    return pick.drop(["_tms", "_retx", "_duel", "_lossless"]), why


def worst_connections(run: RunData) -> pd.DataFrame:
    """Per stack, the connection that shows its fault best, with a `why` column."""
    conns = run.connections
    if conns.empty or "teardown_pkts" not in conns:
        return pd.DataFrame()
    ideal = {c.id for c in run.cells if c.link == "ideal"}
    lossless = conns["cell_id"].isin(ideal)
    rows = []
    for _, group in conns.groupby("stack", sort=True):
        pick, why = _characteristic(group, lossless[group.index])
        rows.append({**pick.to_dict(), "why": why})
    return pd.DataFrame(rows)
