"""Hand-checked teardowns built with scapy, one per close_kind, plus duel and port reuse."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_oracle import compare_with_tshark, tshark_available
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from closebench.teardown import AnalysisParams, analyze_capture

C, D = "198.18.0.1", "198.18.0.2"


class Conv:
    """Builds one conversation: c() = client->device, d() = device->client."""

    def __init__(
        self, sport: int = 40000, t0: float = 1000.0, isn_c: int = 100, isn_d: int = 6510
    ) -> None:
        self.sport, self.t, self.pkts = sport, t0, []
        self.cs, self.ds = isn_c, isn_d

    def _add(self, c2d: bool, flags: str, seq: int, ack: int, load: bytes, dt: float) -> None:
        self.t += dt
        src, dst = (C, D) if c2d else (D, C)
        sp, dp = (self.sport, 80) if c2d else (80, self.sport)
        p = (
            Ether()
            / IP(src=src, dst=dst)
            / TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack, window=5840)
        )
        if load:
            p = p / load
        p.time = self.t
        self.pkts.append(p)

    def c(
        self,
        flags: str,
        seq: int | None = None,
        ack: int | None = None,
        load: bytes = b"",
        dt: float = 0.001,
    ) -> Conv:
        self._add(
            True, flags, self.cs if seq is None else seq, self.ds if ack is None else ack, load, dt
        )
        return self

    def d(
        self,
        flags: str,
        seq: int | None = None,
        ack: int | None = None,
        load: bytes = b"",
        dt: float = 0.001,
    ) -> Conv:
        self._add(
            False, flags, self.ds if seq is None else seq, self.cs if ack is None else ack, load, dt
        )
        return self

    def handshake(self) -> Conv:
        self.c("S", ack=0)
        self.cs += 1
        self.d("SA")
        self.ds += 1
        return self.c("A")


def analyse(tmp_path: Path, pkts: list, **kw: object):
    path = tmp_path / "case.pcap"
    wrpcap(str(path), pkts)
    result = analyze_capture(path, **kw)
    if tshark_available():
        assert compare_with_tshark(path, result) == []
    return result.connections


def test_graceful_device_first(tmp_path: Path) -> None:
    v = Conv().handshake()
    v.c("PA", load=b"HEAD / HTTP/1.0\r\n\r\n")
    v.cs += 19
    v.d("FA")
    v.ds += 1
    v.c("FA")
    v.cs += 1
    v.d("A")
    row = analyse(tmp_path, v.pkts).iloc[0]
    assert (row.close_kind, row.closer, row.state, row.faulty) == (
        "graceful",
        "device",
        "SF",
        False,
    )
    assert row.teardown_pkts == 3 and row.history == "ShADfFa"


def test_simultaneous_close_closer_by_ack_coverage(tmp_path: Path) -> None:
    v = Conv().handshake()
    # Capture shows the client FIN first, but it already ACKs the device's FIN: device closed.
    v.c("FA", ack=v.ds + 1)
    v.d("FA", seq=v.ds, ack=v.cs)
    v.cs += 1
    v.ds += 1
    v.d("A")
    v.c("A")
    row = analyse(tmp_path, v.pkts).iloc[0]
    assert row.closer == "device" and row.close_kind == "graceful"


def test_duel_fin_retransmitted_against_wrong_acks(tmp_path: Path) -> None:
    v = Conv().handshake()
    v.d("FA")
    for _ in range(5):  # the client keeps ACKing the old sequence, the device re-sends FIN
        v.c("A", dt=0.3)
        v.d("FA", dt=0.1)
    row = analyse(tmp_path, v.pkts).iloc[0]
    assert row.close_kind == "half_closed" and row.fin_retx_device == 5
    assert row.retx == 5 and row.duel and row.faulty and row.teardown_dupacks >= 4


def test_rst_after_fin(tmp_path: Path) -> None:
    v = Conv().handshake()
    v.d("FA")
    v.ds += 1
    v.c("FA")
    v.cs += 1
    v.d("R", ack=0)
    row = analyse(tmp_path, v.pkts).iloc[0]
    assert row.close_kind == "rst_after_fin" and row.faulty and row.closer == "device"


@pytest.mark.parametrize(("sender", "kind"), [("d", "rst_device"), ("c", "rst_client")])
def test_rst_without_fin(tmp_path: Path, sender: str, kind: str) -> None:
    v = Conv().handshake()
    getattr(v, sender)("RA")
    row = analyse(tmp_path, v.pkts).iloc[0]
    assert row.close_kind == kind and row.closer == kind.split("_")[1]


def test_half_closed_no_answer(tmp_path: Path) -> None:
    v = Conv().handshake()
    v.c("FA")
    row = analyse(tmp_path, v.pkts).iloc[0]
    assert (row.close_kind, row.closer, row.state) == ("half_closed", "client", "S2")


def test_refused_and_syn_unanswered_and_abandoned(tmp_path: Path) -> None:
    refused = Conv(sport=40001)
    refused.c("S", ack=0).d("RA", seq=0, ack=refused.cs + 1)
    lost = Conv(sport=40002, t0=1001.0)
    lost.c("S", ack=0).c("S", ack=0, dt=1.0)
    open_ = Conv(sport=40003, t0=1003.0).handshake()
    df = analyse(tmp_path, refused.pkts + lost.pkts + open_.pkts).set_index("client_port")
    assert (df.loc[40001, "close_kind"], df.loc[40001, "state"]) == ("refused", "REJ")
    assert (df.loc[40002, "close_kind"], df.loc[40002, "state"]) == ("syn_unanswered", "S0")
    assert df.loc[40002, "syn_retx"] == 1
    assert (df.loc[40003, "close_kind"], df.loc[40003, "state"]) == ("abandoned", "S1")


def test_port_reuse_during_time_wait_splits_like_tshark(tmp_path: Path) -> None:
    first = Conv(isn_c=100).handshake()
    first.d("FA")
    first.ds += 1
    first.c("FA")
    first.cs += 1
    first.d("A")
    second = Conv(isn_c=900000, isn_d=7000, t0=1000.5)
    second.c("S", ack=0)  # same 4-tuple, new ISN: the device is still in TIME_WAIT
    second.d("A", seq=first.ds, ack=first.cs)  # out-of-window SYN gets a bare ACK
    second.c("R", seq=first.cs, ack=0)
    second.c("S", seq=900000, ack=0, dt=1.0)  # SYN retransmission: same stream
    df = analyse(tmp_path, first.pkts + second.pkts, load_stop=1000.2)
    assert list(df.stream) == [0, 1]
    assert df.loc[1, "syn_retx"] == 1 and df.loc[1, "pkts"] == 4
    assert df.loc[1, "after_load_ms"] > 0 and df.loc[0, "after_load_ms"] == 0


def test_params_change_duel_threshold(tmp_path: Path) -> None:
    v = Conv().handshake()
    v.d("FA")
    for _ in range(3):
        v.d("FA", dt=0.1)
    strict = AnalysisParams(duel_min_teardown_pkts=2, duel_min_ms=100.0)
    path = tmp_path / "p.pcap"
    wrpcap(str(path), v.pkts)
    assert not analyze_capture(path).connections.iloc[0].duel
    assert analyze_capture(path, params=strict).connections.iloc[0].duel
