"""Stack faults versus loss recovery, from the two captures of one connection.

Each case writes the client-side and the device-side capture of the same connection with
scapy, as the bench's two capture points would see it, runs the real analyzer on both and then
the attribution. tshark is the oracle that the case is what it says (a retransmitted FIN).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from closebench.teardown import analyze_capture
from closebench.teardown.attribution import attribute

CLIENT, DEVICE = "198.18.0.1", "198.18.0.2"
CPORT, DPORT = 40000, 80
T0 = 1_700_000_000.0


def seg(t: float, from_client: bool, flags: str, seq: int, ack: int, data: bytes = b""):
    src, dst = (CLIENT, DEVICE) if from_client else (DEVICE, CLIENT)
    sport, dport = (CPORT, DPORT) if from_client else (DPORT, CPORT)
    pkt = (
        Ether()
        / IP(src=src, dst=dst)
        / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack)
    )
    pkt = pkt / data if data else pkt
    pkt.time = T0 + t
    return pkt


def exchange(client_fin_again: bool) -> list:
    """Request, response, device FIN, client FIN (retransmitted once when asked), ACKs."""
    pkts = [
        seg(0.000, True, "S", 100, 0),
        seg(0.001, False, "SA", 500, 101),
        seg(0.002, True, "A", 101, 501),
        seg(0.003, True, "PA", 101, 501, b"HEAD / HTTP/1.1\r\n\r\n"),
        seg(0.004, False, "PA", 501, 120, b"HTTP/1.1 200 OK\r\n\r\n"),
        seg(0.005, True, "A", 120, 520),
        seg(0.006, False, "FA", 520, 120),
        seg(0.007, True, "FA", 120, 521),
    ]
    if client_fin_again:
        pkts.append(seg(0.600, True, "FA", 120, 521))
    pkts.append(seg(0.601 if client_fin_again else 0.008, False, "A", 521, 121))
    return pkts


def analyse_pair(tmp: Path, client_pkts: list, device_pkts: list):
    cpath, dpath = tmp / "capture-client.pcap", tmp / "capture-device.pcap"
    wrpcap(str(cpath), client_pkts)
    wrpcap(str(dpath), device_pkts)
    client = analyze_capture(cpath, device_ip=DEVICE).connections
    device = analyze_capture(dpath, device_ip=DEVICE).connections
    return attribute(client, device, captures=(cpath, dpath)).iloc[0], cpath


def tshark_fin_retransmissions(path: Path) -> int:
    out = subprocess.run(
        ["tshark", "-r", str(path), "-Y", "tcp.flags.fin == 1 && tcp.analysis.retransmission"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return len(out.splitlines())


def test_clean_close_is_neither(tmp_path: Path) -> None:
    row, _ = analyse_pair(tmp_path, exchange(False), exchange(False))
    assert (row["link_lost_pkts"], row["stack_fault"], row["loss_recovery"]) == (0, False, False)


def test_fin_retransmitted_though_it_arrived_is_the_stacks(tmp_path: Path) -> None:
    """Both FINs reached the device and it still did not ACK the first: its own doing."""
    row, cpath = analyse_pair(tmp_path, exchange(True), exchange(True))
    assert tshark_fin_retransmissions(cpath) == 1
    assert row["link_lost_pkts"] == 0 and row["link_reordered"] == 0
    assert row["stack_fault"] and not row["loss_recovery"]


def test_fin_retransmitted_after_the_link_lost_it_is_loss_recovery(tmp_path: Path) -> None:
    """The device capture lacks the first client FIN: the link lost it."""
    device_view = [p for p in exchange(True) if p.time != T0 + 0.007]
    row, cpath = analyse_pair(tmp_path, exchange(True), device_view)
    assert tshark_fin_retransmissions(cpath) == 1
    assert row["link_lost_pkts"] == 1
    assert row["loss_recovery"] and not row["stack_fault"]


def test_reordered_packets_are_the_links(tmp_path: Path) -> None:
    """The device sent its response before its FIN; the client got them the other way round."""
    sent = exchange(True)
    got = list(sent)
    got[4], got[6] = got[6], got[4]  # FIN overtakes the response on the way to the client
    got[4].time, got[6].time = sent[4].time, sent[6].time
    row, _ = analyse_pair(tmp_path, got, sent)
    assert row["link_lost_pkts"] == 0 and row["link_reordered"] == 1
    assert row["loss_recovery"] and not row["stack_fault"]


@pytest.mark.parametrize("lost", [False, True])
def test_device_rst_is_the_stacks_whatever_the_link_did(tmp_path: Path, lost: bool) -> None:
    pkts = [*exchange(False)[:7], seg(0.007, True, "FA", 120, 521), seg(0.008, False, "R", 521, 0)]
    device_view = [p for p in pkts if not (lost and p.time == T0 + 0.005)]
    row, _ = analyse_pair(tmp_path, pkts, device_view)
    assert row["link_lost_pkts"] == (1 if lost else 0)
    assert row["stack_fault"] and not row["loss_recovery"]


def test_without_a_device_view_graceful_extras_are_not_blamed(tmp_path: Path) -> None:
    path = tmp_path / "only-client.pcap"
    wrpcap(str(path), exchange(True))
    row = attribute(analyze_capture(path, device_ip=DEVICE).connections, None).iloc[0]
    assert row["link_lost_pkts"] != row["link_lost_pkts"]  # NaN: unknown
    assert row["loss_recovery"] and not row["stack_fault"]
