"""Random TCP packet streams: no crash, every packet in exactly one connection or skipped."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from closebench.teardown import analyze_capture

packet = st.one_of(
    st.builds(
        lambda a, port, flags, seq, ack, n: (
            Ether()
            / IP(src=f"10.0.0.{a}", dst="10.0.0.9")
            / TCP(sport=port, dport=80, flags=flags, seq=seq, ack=ack)
            / (b"x" * n)
        ),
        st.integers(1, 2),
        st.integers(1000, 1002),
        st.integers(0, 0x3F),
        st.sampled_from([0, 1, 2**31, 2**32 - 1]),
        st.integers(0, 2**32 - 1),
        st.integers(0, 3),
    ),
    st.builds(
        lambda port, flags, seq: (
            Ether()
            / IP(src="10.0.0.9", dst="10.0.0.1")
            / TCP(sport=80, dport=port, flags=flags, seq=seq)
        ),
        st.integers(1000, 1002),
        st.integers(0, 0x3F),
        st.sampled_from([0, 5, 2**32 - 1]),
    ),
    st.just(Ether() / IP() / UDP()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(packet, min_size=1, max_size=40))
def test_every_packet_accounted_once(pkts: list) -> None:
    for i, p in enumerate(pkts):
        p.time = 1000 + i * 0.01
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.pcap"
        wrpcap(str(path), pkts)
        result = analyze_capture(path)
    df = result.connections
    assert int(df["pkts"].sum()) + result.skipped == len(pkts)
    assert (df["pkts"] == df["pkts_client"] + df["pkts_device"]).all()
    assert df["conn_id"].is_unique and df["close_kind"].notna().all()
