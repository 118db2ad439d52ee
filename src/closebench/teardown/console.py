"""Console summary of an AnalysisResult (rich), with Wireshark filters for the worst rows."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

from closebench.teardown.analyze import AnalysisResult
from closebench.teardown.classify import CLOSE_KINDS


def wireshark_filter(row: pd.Series) -> str:
    """Display filters that open exactly this connection in Wireshark."""
    ip = "ipv6.addr" if ":" in str(row["client_ip"]) else "ip.addr"
    return (
        f"tcp.stream eq {row['stream']}  |  {ip}=={row['client_ip']} && "
        f"tcp.port=={row['client_port']} && {ip}=={row['device_ip']} && "
        f"tcp.port=={row['device_port']}"
    )


def worst_connections(df: pd.DataFrame, n: int) -> pd.DataFrame:
    """Faulty first, then the longest and busiest teardowns."""
    if df.empty:
        return df
    ranked = df.assign(_t=df["teardown_ms"].fillna(-1.0))
    ranked = ranked.sort_values(
        ["duel", "faulty", "teardown_pkts", "_t"], ascending=False, kind="stable"
    )
    return ranked[ranked["faulty"]].head(n).drop(columns="_t")


def _round(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def print_report(result: AnalysisResult, worst: int = 10, console: Console | None = None) -> None:
    console = console or Console()
    s = result.summary
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    console.print(
        f"{result.source}: {s['connections']} connections, {s['packets']} packets "
        f"({s['skipped_packets']} not TCP/skipped), {s['duels']} duels"
    )
    table = Table(title="close kinds (Wilson 95% CI)")
    for col in ("kind", "count", "rate", "95% CI"):
        table.add_column(col, justify="right" if col != "kind" else "left")
    for kind in (*CLOSE_KINDS, "faulty"):
        r = s["faulty"] if kind == "faulty" else s["close_kind"][kind]
        ci = "-" if r["rate"] is None else f"{_pct(r['ci_low'])} .. {_pct(r['ci_high'])}"
        table.add_row(kind, str(r["count"]), _pct(r["rate"]), ci)
    console.print(table)
    p50, p99 = s["teardown_ms_p50"], s["teardown_ms_p99"]
    per_conn = s["teardown_pkts_per_conn"]
    console.print(
        f"teardown_ms p50={_round(p50)} p99={_round(p99)}; "
        f"teardown packets per connection={_round(per_conn)}"
    )
    bad = worst_connections(result.connections, worst)
    if bad.empty:
        return
    t = Table(title=f"worst {len(bad)} connections")
    for col in (
        "stream",
        "close_kind",
        "closer",
        "state",
        "history",
        "teardown_pkts",
        "teardown_ms",
    ):
        t.add_column(col)
    for _, row in bad.iterrows():
        td = "-" if pd.isna(row["teardown_ms"]) else f"{row['teardown_ms']:.1f}"
        t.add_row(
            str(row["stream"]),
            row["close_kind"],
            row["closer"],
            row["state"],
            row["history"],
            str(row["teardown_pkts"]),
            td,
        )
    console.print(t)
    console.print("Wireshark display filters (either opens exactly that connection):")
    for _, row in bad.iterrows():
        console.print(f"  {wireshark_filter(row)}", soft_wrap=True, highlight=False)
