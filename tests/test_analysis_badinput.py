"""Damaged or wrong input: one clear UserError or a warning, never a traceback or silence."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from closebench.errors import UserError
from closebench.teardown import analyze_capture

PCAPS = Path(__file__).parent / "fixtures" / "pcaps"


def _pcap(tmp_path: Path, n: int = 20, snaplen: int = 65535) -> Path:
    pkts = [
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000 + i, dport=80, flags="S")
        for i in range(n)
    ]
    path = tmp_path / "ok.pcap"
    wrpcap(str(path), pkts, snaplen=snaplen)
    return path


def test_zero_length(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        analyze_capture(path)


def test_wrong_magic_and_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pcap"
    path.write_bytes(b"GET / HTTP/1.1\r\n" * 50)
    with pytest.raises(UserError, match="not a pcap"):
        analyze_capture(path)


def test_header_only_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "hdr.pcap"
    path.write_bytes(_pcap(tmp_path).read_bytes()[:24])
    with pytest.raises(UserError, match="no packets"):
        analyze_capture(path)


def test_truncated_keeps_complete_records_and_warns_with_offset(tmp_path: Path) -> None:
    data = _pcap(tmp_path).read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[: len(data) - 30])
    result = analyze_capture(path)
    assert result.packets == 19 and len(result.connections) == 19
    assert any("truncated" in w and "byte" in w for w in result.warnings)


def test_truncated_inside_record_header(tmp_path: Path) -> None:
    data = _pcap(tmp_path).read_bytes()
    path = tmp_path / "cut2.pcap"
    path.write_bytes(data + b"\x01\x02\x03")
    result = analyze_capture(path)
    assert result.packets == 20 and any("trailing bytes" in w for w in result.warnings)


def test_snaplen_cut_packets_are_counted_and_warned(tmp_path: Path) -> None:
    import struct

    frame = bytes(Ether() / IP() / TCP(flags="S"))
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 40, 1)
    for i in range(3):  # snaplen 40: Ethernet + IP + 6 bytes of TCP
        out += struct.pack("<IIII", 1000 + i, 0, 40, len(frame)) + frame[:40]
    path = tmp_path / "snap.pcap"
    path.write_bytes(out)
    result = analyze_capture(path)
    assert result.skipped == 3 and result.skipped_detail["snaplen_cut"] == 3
    assert any("snap length" in w for w in result.warnings)


def test_non_tcp_counted_not_silent(tmp_path: Path) -> None:
    path = tmp_path / "udp.pcap"
    wrpcap(str(path), [Ether() / IP() / UDP() for _ in range(4)])
    result = analyze_capture(path)
    assert result.skipped == 4 and result.connections.empty
    assert any("no TCP packets" in w for w in result.warnings)


def test_bad_device_ip(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not an IP"):
        analyze_capture(_pcap(tmp_path), device_ip="device")


def test_pcapng_vlan_sll_ipv6(tmp_path: Path) -> None:
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import CookedLinux, Dot1Q
    from scapy.utils import PcapNgWriter

    path = tmp_path / "mixed.pcapng"
    with PcapNgWriter(str(path)) as w:
        w.write(Ether() / Dot1Q(vlan=5) / IP(src="1.1.1.1", dst="2.2.2.2") / TCP(flags="S"))
        w.write(Ether() / IPv6(src="fe80::1", dst="fe80::2") / TCP(sport=5, flags="S"))
    result = analyze_capture(path)
    assert result.tcp_packets == 2 and len(result.connections) == 2
    assert set(result.connections.client_ip) == {"1.1.1.1", "fe80::1"}
    sll = tmp_path / "sll.pcap"
    wrpcap(str(sll), [CookedLinux() / IP() / TCP(flags="S")])
    assert analyze_capture(sll).tcp_packets == 1
