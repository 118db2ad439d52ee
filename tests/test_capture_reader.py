"""The one capture reader and link-type table, checked against tshark frame by frame.

Every reader of a capture (the counts after a cell, the report's excerpts, the seed study,
the analyzer) goes through closebench.capture; here its per-frame "is this TCP" answer and
its record count must match tshark on the third-party captures and on every link type the
table knows, in classic pcap and pcapng, and must match the analyzer's vectorised decoder.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from analysis_oracle import tshark_available
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether, Loopback
from scapy.utils import PcapNgWriter, PcapWriter

from closebench.capture.linktypes import is_tcp
from closebench.capture.pcapfile import iter_records
from closebench.capture.tcpdump import count_first_syns, count_packets
from closebench.teardown import analyze_capture

SHARED = sorted((Path(__file__).parent / "fixtures" / "pcaps").glob("*.pcap"))
needs_tshark = pytest.mark.skipif(not tshark_available(), reason="tshark not installed")


def _tshark_tcp_flags(path: Path) -> list[bool]:
    """Per frame: does tshark dissect TCP in it (frame.protocols names tcp)?"""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.protocols"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return ["tcp" in line.split(":") for line in out.splitlines()]


def _ours(path: Path) -> list[bool]:
    return [bool(is_tcp(r.linktype, r.data)) for r in iter_records(path)]


@needs_tshark
@pytest.mark.parametrize("pcap", SHARED, ids=[p.stem for p in SHARED])
def test_tcp_frames_agree_with_tshark_on_third_party_captures(pcap: Path) -> None:
    theirs = _tshark_tcp_flags(pcap)
    assert count_packets(pcap) == len(theirs)
    assert _ours(pcap) == theirs


def _frames() -> dict[str, list]:
    seg = TCP(sport=40000, dport=80, flags="S", seq=7)
    v4, v6 = IP(src="198.18.0.1", dst="198.18.0.2"), IPv6(src="2001:db8::1", dst="2001:db8::2")
    other = UDP(sport=5353, dport=5353)
    return {
        "ethernet": [Ether() / v4 / seg, Ether() / v6 / seg, Ether() / v4 / other],
        "vlan": [Ether() / Dot1Q(vlan=5) / v4 / seg, Ether() / Dot1AD() / Dot1Q() / v4 / seg],
        "sll": [CookedLinux() / v4 / seg, CookedLinux() / v6 / other],
        "sll2": [CookedLinuxV2(proto=0x0800) / v4 / seg, CookedLinuxV2(proto=0x86DD) / v6 / seg],
        "null": [Loopback(type=2) / v4 / seg, Loopback(type=30) / v6 / seg, Loopback() / v4],
        "raw": [v4 / seg, v4 / other],
    }  # fmt: skip


@needs_tshark
@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("link", list(_frames()))
def test_every_link_type_of_the_table_agrees_with_tshark_and_the_analyzer(
    tmp_path: Path, link: str, fmt: str
) -> None:
    path = tmp_path / f"{link}.{fmt}"
    writer = PcapNgWriter(str(path)) if fmt == "pcapng" else PcapWriter(str(path))
    with writer:
        for port, frame in enumerate(_frames()[link], 40000):
            if TCP in frame:
                frame[TCP].sport = port  # each SYN its own connection
            writer.write(frame)
    ours = _ours(path)
    assert ours == _tshark_tcp_flags(path)
    assert analyze_capture(path).tcp_packets == sum(ours)  # the vectorised decoder agrees
    assert count_first_syns(path) == sum(ours)  # every TCP frame here is a first SYN
