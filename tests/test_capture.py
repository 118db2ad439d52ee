"""Tcpdump on loopback: a known number of connections is captured whole, with no drops."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from closebench.capture.tcpdump import Tcpdump, count_first_syns, count_packets, parse_stats
from closebench.errors import UserError
from closebench.load.client import request_once

needs_tcpdump = pytest.mark.skipif(
    shutil.which("tcpdump") is None or os.geteuid() != 0,
    reason="needs root and tcpdump (apt-get install tcpdump)",
)


@needs_tcpdump
def test_captures_every_loopback_connection(tmp_path: Path, server_port: int) -> None:
    pcap = tmp_path / "lo.pcap"
    log = tmp_path / "tcpdump.log"
    connections = 40
    with Tcpdump("lo", pcap, bpf_filter=f"tcp port {server_port}", log=log) as dump:
        for _ in range(connections):
            result = request_once(
                ("127.0.0.1", server_port), "HEAD", "/", connect_timeout_s=30, timeout_s=30
            )  # failure bounds only: the local server answers whenever the host schedules it
            assert result.error is None
    stats = dump.stats
    assert stats is not None
    assert stats["dropped_kernel"] == 0 and stats["dropped_ifc"] == 0
    assert stats["packets"] == count_packets(pcap)
    assert count_first_syns(pcap, server_port) == connections
    assert "listening on lo" in log.read_text()

    from scapy.utils import rdpcap

    packets = rdpcap(str(pcap))
    assert len(packets) == stats["packets"]
    # Every connection is at least SYN, SYN-ACK, ACK, request, response, FIN, FIN, ACK.
    assert len(packets) >= 8 * connections


@needs_tcpdump
def test_missing_interface_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="tcpdump on nosuchif0 failed") as err:
        Tcpdump("nosuchif0", tmp_path / "x.pcap").start()
    assert "\n" not in str(err.value)


def test_missing_tcpdump_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="apt-get install tcpdump"):
        Tcpdump("lo", tmp_path / "x.pcap").start()


def test_parse_stats() -> None:
    text = (
        "tcpdump: listening on tap0, link-type EN10MB\n12 packets captured\n"
        "30 packets received by filter\n3 packets dropped by kernel\n"
        "1 packet dropped by interface\n"
    )
    assert parse_stats(text) == {
        "packets": 12,
        "received_by_filter": 30,
        "dropped_kernel": 3,
        "dropped_ifc": 1,
    }
    assert parse_stats("killed")["packets"] is None


def test_count_first_syns_ignores_retransmissions(tmp_path: Path) -> None:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    def syn(sport: int, seq: int, flags: str = "S") -> Ether:
        return (
            Ether()
            / IP(src="198.18.0.1", dst="198.18.0.2")
            / TCP(sport=sport, dport=80, seq=seq, flags=flags)
        )

    frames = [
        syn(40000, 1),
        syn(40000, 1),  # retransmission: same ISN
        syn(40000, 999),  # port reuse: a new connection
        syn(40001, 5),
        syn(40002, 7, "SA"),  # a SYN-ACK is not a client's SYN
    ]
    pcap = tmp_path / "syns.pcap"
    wrpcap(str(pcap), frames)
    assert count_packets(pcap) == 5
    assert count_first_syns(pcap, 80) == 3
    assert count_first_syns(pcap, 8080) == 0


def test_not_a_pcap(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"x" * 40)
    with pytest.raises(UserError, match="not a pcap or pcapng file"):
        count_packets(bad)


def test_closed_port_helper_is_really_closed() -> None:
    # Guards the refused-connection tests elsewhere: a port bound then closed refuses.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = request_once(("127.0.0.1", port), "HEAD", "/", connect_timeout_s=1, timeout_s=1)
    assert result.error is not None and result.error.kind == "refused"


def test_dumpcap_summary_is_parsed_like_tcpdumps() -> None:
    from closebench.capture.tcpdump import Dumpcap

    text = (
        "Capturing on 'cb0'\nPackets captured: 412\n"
        "Packets received/dropped on interface 'cb0': 415/3 "
        "(pcap:1/dumpcap:0/flushed:2/ps_ifdrop:0) (99.3%)\n"
    )
    assert Dumpcap.parse(text) == {
        "packets": 412, "received_by_filter": 415, "dropped_kernel": 3, "dropped_ifc": 0,
    }  # fmt: skip
    assert Dumpcap.parse("dumpcap was killed")["packets"] is None
