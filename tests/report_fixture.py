"""A small but realistic run directory for the report tests.

The captures are real pcaps written with scapy (HTTP HEAD exchanges between the "laptop"
198.18.0.1 and a device 198.18.0.2:80, with lwIP-like ISNs), and connections.parquet /
metrics.json come from the real analyzer on those captures, so the report is tested on what
the pipeline produces rather than on hand-made tables.

Cells:
- linux-ref   burst/ideal r1         graceful closes only (the control group)
- nodemcu     burst/ideal r1         graceful, RST after FIN, and a FIN duel that goes on
                                     after the load stops (lwIP 2.1.3)
- nodemcu     burst/ideal r1 lwIP 2.2.1   graceful and one RST after FIN
- nodemcu     burst/wifi-lossy r1    no connections at all (the capture has only ARP)
- arduino     burst/ideal r1         failed: the device did not start (no outputs)
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

from closebench.schema import RESULT_SCHEMA_VERSION

CLIENT, DEVICE = "198.18.0.1", "198.18.0.2"
CLIENT_MAC, DEVICE_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
T0 = 1_760_000_000.0  # device start, epoch seconds
LOAD_START, LOAD_STOP, COOLDOWN_END = T0 + 1.0, T0 + 4.0, T0 + 12.0
REQUEST = b"HEAD / HTTP/1.1\r\nHost: 198.18.0.2\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\n"


class _Conn:
    """Builds one TCP connection's packets with consistent seq/ack numbers."""

    def __init__(self, sport: int, isn_client: int, isn_device: int) -> None:
        self.sport = sport
        self.seq = {True: isn_client, False: isn_device}  # True: client side
        self.pkts: list[Packet] = []

    def send(self, t: float, from_client: bool, flags: str, payload: bytes = b"") -> None:
        src, dst = (CLIENT, DEVICE) if from_client else (DEVICE, CLIENT)
        smac, dmac = (CLIENT_MAC, DEVICE_MAC) if from_client else (DEVICE_MAC, CLIENT_MAC)
        sport, dport = (self.sport, 80) if from_client else (80, self.sport)
        ack = self.seq[not from_client] if "A" in flags else 0
        tcp = TCP(
            sport=sport,
            dport=dport,
            flags=flags,
            seq=self.seq[from_client],
            ack=ack,
            window=2144 if not from_client else 64240,
        )
        pkt = Ether(src=smac, dst=dmac) / IP(src=src, dst=dst) / tcp
        if payload:
            pkt = pkt / Raw(payload)
        pkt.time = t
        self.pkts.append(pkt)
        self.seq[from_client] += len(payload) + (1 if ("S" in flags or "F" in flags) else 0)

    def resend(self, t: float, from_client: bool, flags: str) -> None:
        """A retransmission: same sequence number as the previous FIN/SYN."""
        self.seq[from_client] -= 1
        self.send(t, from_client, flags)

    def open_and_request(self, t: float) -> float:
        self.send(t, True, "S")
        self.send(t + 0.002, False, "SA")
        self.send(t + 0.0025, True, "A")
        self.send(t + 0.003, True, "PA", REQUEST)
        self.send(t + 0.006, False, "PA", RESPONSE)
        return t + 0.006


def graceful(sport: int, t: float, isn: int) -> list[Packet]:
    c = _Conn(sport, 1_000_000 + sport * 7, isn)
    t = c.open_and_request(t)
    c.send(t + 0.001, False, "FA")  # device closes after the response (espconn style)
    c.send(t + 0.002, True, "A")
    c.send(t + 0.003, True, "FA")
    c.send(t + 0.005, False, "A")
    return c.pkts


def rst_after_fin(sport: int, t: float, isn: int) -> list[Packet]:
    c = _Conn(sport, 2_000_000 + sport * 7, isn)
    t = c.open_and_request(t)
    c.send(t + 0.001, False, "FA")
    c.send(t + 0.002, True, "FA")
    c.send(t + 0.004, False, "RA")  # the PCB was already freed: lwIP answers with RST
    return c.pkts


def fin_duel(sport: int, t: float, isn: int, rounds: int = 5) -> list[Packet]:
    """The device's FIN is never acknowledged as it expects; both sides retransmit with
    backoff, running well past the load stop."""
    c = _Conn(sport, 3_000_000 + sport * 7, isn)
    t = c.open_and_request(t)
    c.send(t + 0.001, False, "FA")
    c.send(t + 0.002, True, "FA")
    backoff = 0.25
    for _ in range(rounds):
        t += backoff
        c.resend(t, False, "FA")  # device retransmits its FIN
        c.resend(t + 0.001, True, "FA")  # client retransmits its FIN too
        backoff *= 2
    c.send(t + 0.01, False, "A")
    return c.pkts


def _arp(t: float) -> Packet:
    pkt = Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=CLIENT, pdst=DEVICE)
    pkt.time = t
    return pkt


def _write_pcap(path: Path, pkts: list[Packet]) -> None:
    pkts = sorted(pkts, key=lambda p: float(p.time))
    wrpcap(str(path), pkts, linktype=1)


def _device_csv(path: Path, peak_tw: int, alloc_fail: int) -> None:
    cols = [
        "epoch_s",
        "t_ms",
        "reason",
        "led",
        "listen",
        "syn_rcvd",
        "established",
        "fin_wait_1",
        "fin_wait_2",
        "close_wait",
        "closing",
        "last_ack",
        "time_wait",
        "pcbs",
        "mem_used",
        "mem_max",
        "memp_tcp_pcb_used",
        "memp_tcp_seg_used",
        "memp_pbuf_used",
        "alloc_fail",
        "syn_dropped",
        "culled",
        "rx_frames",
        "tx_frames",
        "link_drop_in",
        "link_drop_out",
        "heap_free",
    ]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for i in range(0, 121):
            t = T0 + i * 0.1
            loaded = LOAD_START <= t <= LOAD_STOP
            est = 2 if loaded else 0
            fw1 = 1 if loaded and i % 3 == 0 else (1 if t < LOAD_STOP + 4 and peak_tw > 2 else 0)
            tw = min(peak_tw, max(0, int((t - LOAD_START) * 2))) if t > LOAD_START else 0
            fails = alloc_fail if t > LOAD_STOP - 1 else 0
            w.writerow(
                [
                    f"{t:.3f}",
                    i * 100,
                    "tick",
                    0,
                    1,
                    0,
                    est,
                    fw1,
                    0,
                    0,
                    0,
                    0,
                    tw,
                    est + fw1 + tw,
                    2000 + 300 * est,
                    4000,
                    est + fw1 + tw,
                    est,
                    est * 2,
                    fails,
                    0,
                    0,
                    i * 3,
                    i * 3,
                    0,
                    0,
                    "",
                ]
            )


def _requests_csv(path: Path, n: int, failed: int) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch_s", "latency_ms", "outcome", "error_kind"])
        for i in range(n):
            bad = i < failed
            w.writerow(
                [
                    f"{LOAD_START + i * 0.2:.3f}",
                    0 if bad else 6 + (i % 5) * 1.5,
                    "failed" if bad else "ok",
                    "ConnectionResetError" if bad else "",
                ]
            )


def _cell_dir(
    run_dir: Path,
    cell: dict,
    pkts: list[Packet],
    *,
    failed_requests: int = 0,
    peak_tw: int = 2,
    alloc_fail: int = 0,
) -> None:
    from closebench.teardown import analyze_capture, write_outputs

    d = run_dir / cell["id"]
    d.mkdir(parents=True)
    _write_pcap(d / "capture-client.pcap", pkts)
    _write_pcap(d / "capture-device.pcap", pkts)
    events = {
        name: {"wall": ts, "capture": ts}
        for name, ts in (
            ("device_start", T0),
            ("load_start", LOAD_START),
            ("load_stop", LOAD_STOP),
            ("cooldown_end", COOLDOWN_END),
        )
    }
    (d / "events.json").write_text(json.dumps({"clock": "CLOCK_REALTIME", "events": events}))
    _device_csv(d / "device.csv", peak_tw, alloc_fail)
    syns = sum(1 for p in pkts if TCP in p and str(p[TCP].flags) == "S")
    _requests_csv(d / "requests.csv", syns, failed_requests)
    (d / "load.csv").write_text(
        f"Type,Name,Request Count,Failure Count\nHEAD,/,{syns},{failed_requests}\n"
    )
    (d / "load_failures.csv").write_text("Method,Name,Error,Occurrences\n")
    (d / "device.log").write_text("device up\n")

    result = analyze_capture(d / "capture-client.pcap", device_ip=DEVICE, load_stop=LOAD_STOP)
    write_outputs(result, d)
    metrics_path = d / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    metrics.setdefault("schema_version", RESULT_SCHEMA_VERSION)
    metrics.setdefault(
        "cell",
        {k: cell[k] for k in ("id", "variant", "profile", "link", "repetition", "lwip")}
        | {"seed": 7},
    )
    metrics.setdefault(
        "load",
        {
            "requests": syns,
            "ok": syns - failed_requests,
            "failed": failed_requests,
            "failures": {"ConnectionResetError": failed_requests} if failed_requests else {},
            "latency_ms_p50": 9.0,
            "latency_ms_p99": 12.0,
            "rps": syns / 3.0,
            "syns_in_capture": syns,
            "connections_match_requests": True,
        },
    )
    metrics.setdefault(
        "capture",
        {
            "client": {"packets": len(pkts), "dropped_kernel": 0, "dropped_ifc": 0},
            "device": {"packets": len(pkts), "dropped": 0},
            "complete": True,
        },
    )
    metrics.setdefault(
        "device",
        {
            "peak_pcbs": peak_tw + 3,
            "peak_time_wait": peak_tw,
            "alloc_fail": alloc_fail,
            "syn_dropped": 0,
            "culled": 0,
        },
    )
    metrics_path.write_text(json.dumps(metrics, indent=2))


def _cell(variant: str, link: str, lwip: str, suffix: bool = False, status: str = "ok") -> dict:
    cid = f"{variant}__burst__{link}__r1" + (f"__lwip{lwip}" if suffix else "")
    return {
        "id": cid,
        "variant": variant,
        "profile": "burst",
        "link": link,
        "repetition": 1,
        "lwip": lwip,
        "status": status,
    }


def build_run(run_dir: Path, *, complete: bool = True, probes: bool = True) -> Path:
    """Write the fixture run directory; returns run_dir."""
    run_dir.mkdir(parents=True, exist_ok=True)
    cells = {
        "ref": _cell("linux-ref", "ideal", "n/a"),
        "nodemcu": _cell("nodemcu", "ideal", "2.1.3"),
        "nodemcu_221": _cell("nodemcu", "ideal", "2.2.1", suffix=True),
        "empty": _cell("nodemcu", "wifi-lossy", "2.1.3"),
        "failed": _cell("arduino", "ideal", "2.1.3", status="failed: device did not start"),
    }
    t = LOAD_START
    ref = [p for i in range(8) for p in graceful(40000 + i, t + i * 0.35, 6510 + i)]
    _cell_dir(run_dir, cells["ref"], ref)
    mixed = (
        graceful(41000, t, 6510)
        + graceful(41001, t + 0.4, 6512)
        + rst_after_fin(41002, t + 0.8, 6516)
        + graceful(41003, t + 1.2, 6520)
        + rst_after_fin(41004, t + 1.6, 6524)
        + fin_duel(41005, t + 2.0, 6528)
        + graceful(41006, t + 2.4, 6532)
    )
    _cell_dir(run_dir, cells["nodemcu"], mixed, failed_requests=2, peak_tw=5, alloc_fail=3)
    newer = (
        graceful(42000, t, 6510)
        + graceful(42001, t + 0.5, 6512)
        + rst_after_fin(42002, t + 1.0, 6516)
        + graceful(42003, t + 1.5, 6520)
    )
    _cell_dir(run_dir, cells["nodemcu_221"], newer, peak_tw=3)
    _cell_dir(run_dir, cells["empty"], [_arp(t), _arp(t + 1.0)], failed_requests=0, peak_tw=0)
    (run_dir / cells["failed"]["id"]).mkdir()
    (run_dir / cells["failed"]["id"] / "device.log").write_text("device: TAP open failed\n")

    variants = {
        "linux-ref": {
            "name": "linux-ref",
            "kind": "linux",
            "stack": "Linux kernel TCP",
            "lwip": None,
            "options": {},
            "close_behaviour": "close() after response",
            "known_differences": [],
        },
        "nodemcu": {
            "name": "nodemcu",
            "kind": "lwip",
            "stack": "lwIP raw API (NodeMCU net)",
            "lwip": "2.1.3",
            "tarball_sha256": "ab" * 32,
            "options": {"TCP_MSS": 1460, "MEMP_NUM_TCP_PCB": 5},
            "close_behaviour": "net.socket:close() from the sent callback",
            "known_differences": [
                "Runs on the host, not on an ESP8266: no Wi-Fi "
                "driver, timing of the SDK's task loop is not modelled",
                "Uses Debian's lwIP core, not Espressif's fork",
            ],
        },
        "arduino": {
            "name": "arduino",
            "kind": "lwip",
            "stack": "lwIP (ESP8266 Arduino ClientContext)",
            "lwip": "2.1.3",
            "options": {},
            "close_behaviour": "client.stop()",
            "known_differences": ["ClientContext abort path simplified"],
        },
    }
    manifest = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "run_id": run_dir.name,
        "suite": {"version": "0.1.0", "git_sha": "0123456789abcdef0123", "git_dirty": False},
        "host": {"kernel": "6.18.0-test", "python": "3.11.2", "machine": "x86_64", "cpus": 2},
        "tools": {"tcpdump": "4.99.3", "locust": "2.31", "scapy": "2.6", "gcc": "12.2"},
        "backend": "emulated",
        "matrix": {
            "variants": ["linux-ref", "nodemcu", "arduino"],
            "profiles": ["burst"],
            "links": ["ideal", "wifi-lossy"],
            "repetitions": 1,
            "lwip": ["2.1.3", "2.2.1"],
        },
        "variants": variants,
        "profiles": {"burst": {"users": 1, "interval_s": 0.2}},
        "links": {"ideal": {}, "wifi-lossy": {"loss": 0.05}},
        "seeds": {c["id"]: 7 for c in cells.values()},
        "cooldown_s": 8,
        "cells": list(cells.values()),
        "started": "2025-10-09T08:53:19Z",
        "finished": "2025-10-09T08:55:02Z",
    }
    if complete:
        manifest["complete"] = True
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if probes:
        pdir = run_dir / "probes"
        pdir.mkdir()
        for variant, rst in (("linux-ref", "no"), ("nodemcu", "yes")):
            results = [
                {
                    "behaviour": "rst_on_unread_data",
                    "measured": rst,
                    "expected": rst,
                    "pass": True,
                    "citation": "lwIP tcp.c tcp_close_shutdown()",
                },
                {
                    "behaviour": "fin_retx_count",
                    "measured": 6 if variant == "nodemcu" else 3,
                    "expected": 12 if variant == "nodemcu" else 3,
                    "pass": variant != "nodemcu",
                    "citation": "lwIP opt.h TCP_MAXRTX",
                },
            ]
            (pdir / f"{variant}.json").write_text(
                json.dumps({"variant": variant, "results": results})
            )
    return run_dir
