"""Close-handling probes against the Linux reference and lwIP variants whose cited facts differ.

Picks the fast, distinguishing probes (about 20 s of bench time per variant, probes of one
variant in parallel sandboxes); long timers are watched only briefly (max_observe_s) and
checked as lower bounds. The judge/catalog tests need no bench.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import bench_unavailable, leftovers

from closebench.probes import catalog, failures
from closebench.probes.judge import judge
from closebench.variants.manifest import load_variant

FAST = "client_fin_first,close_with_unread,rst_validation,syn_in_time_wait,rst_in_time_wait"
PLAN = {
    "linux-reference": FAST + ",syn_ack_retransmission,time_wait_length",
    "micropython-esp8266": "client_fin_first,close_with_unread,admission,accept_queue,"
    "time_wait_length",
    "nodemcu-2016": "admission",
    "nodemcu-3.0": "client_fin_first,close_with_unread,admission,time_wait_length",
    "arduino-esp8266-3.1": "client_fin_first,syn_in_time_wait,rst_in_time_wait",
}
MAX_OBSERVE_S = 14.0


def _skip_reason() -> str | None:
    reason = bench_unavailable()
    if reason:
        return reason
    return None


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from closebench.probes import run_probes

    out = tmp_path_factory.mktemp("probes")
    results = {}
    for name, probes in PLAN.items():
        results[name] = run_probes(
            load_variant(name),
            probes.split(","),
            out,
            log=lambda m: None,
            jobs=6,
            max_observe_s=MAX_OBSERVE_S,
        )
    left = leftovers(str(out))
    assert not left, "; ".join(left)
    return results


def _measured(data: dict[str, Any], behaviour: str) -> Any:
    rows = [r for r in data["results"] if r["behaviour"] == behaviour]
    assert rows, f"{behaviour} not measured: {data['probes']}"
    return rows[0]


# -- bench tests -------------------------------------------------------------------------


@pytest.mark.netns
def test_every_probe_ran(probed: dict[str, dict[str, Any]]) -> None:
    for name, data in probed.items():
        bad = {p: i["status"] for p, i in data["probes"].items() if i["status"] != "ok"}
        assert not bad, f"{name}: {bad}"


@pytest.mark.netns
def test_linux_reference(probed: dict[str, dict[str, Any]]) -> None:
    data = probed["linux-reference"]
    assert _measured(data, "client_fin_answer")["measured"] == "fin"
    # RFC 5961 challenge ACKs; a higher ISN reopens TIME_WAIT; RST kills it (tcp_rfc1337=0).
    assert _measured(data, "rst_validation")["measured"] == (
        "oow:ignored inexact:challenge_ack exact:accepted"
    )
    assert _measured(data, "syn_in_time_wait")["measured"] == (
        "in-window:syn-ack below:ack above:syn-ack"
    )
    assert _measured(data, "rfc1337_ignore_rst_in_time_wait")["measured"] is False
    assert abs(_measured(data, "initial_rto_ms")["measured"] - 1000) <= 250
    tw = _measured(data, "time_wait_s")  # 60 s, watched for 14 s: a consistent lower bound
    assert tw["bound"] == "lower" and tw["pass"] is True


@pytest.mark.netns
def test_time_wait_differs_5_vs_10(probed: dict[str, dict[str, Any]]) -> None:
    short = _measured(probed["micropython-esp8266"], "time_wait_s")
    longer = _measured(probed["nodemcu-3.0"], "time_wait_s")
    assert abs(short["measured"] - 5) <= 0.6, short
    assert abs(longer["measured"] - 10) <= 0.6, longer
    assert short["pass"] and longer["pass"]


@pytest.mark.netns
def test_client_fin_answer_rst_vs_fin(probed: dict[str, dict[str, Any]]) -> None:
    assert _measured(probed["arduino-esp8266-3.1"], "client_fin_answer")["measured"] == "rst"
    assert _measured(probed["nodemcu-3.0"], "client_fin_answer")["measured"] == "fin"


@pytest.mark.netns
def test_admission_active_vs_established(probed: dict[str, dict[str, Any]]) -> None:
    assert _measured(probed["nodemcu-2016"], "syn_admission")["measured"] == "active:5"
    assert _measured(probed["nodemcu-3.0"], "syn_admission")["measured"] == "established:5"


@pytest.mark.netns
def test_listen_1_queue_answers_rst_before_the_stacks_cap(
    probed: dict[str, dict[str, Any]],
) -> None:
    """modlwip's accept queue of one (ERR_BUF -> RST) is reached long before the fork's 5-PCB
    SYN admission, which the admission probe then cannot see."""
    assert _measured(probed["micropython-esp8266"], "accept_queue_overflow")["measured"] == "rst:2"
    assert _measured(probed["micropython-esp8266"], "syn_admission")["measured"] is None


@pytest.mark.netns
def test_unread_rst_vs_fin(probed: dict[str, dict[str, Any]]) -> None:
    assert _measured(probed["micropython-esp8266"], "rst_on_unread")["measured"] is True
    assert _measured(probed["nodemcu-3.0"], "rst_on_unread")["measured"] is False


@pytest.mark.netns
def test_lwip_time_wait_answers(probed: dict[str, dict[str, Any]]) -> None:
    data = probed["arduino-esp8266-3.1"]
    assert _measured(data, "syn_in_time_wait")["measured"] == "in-window:rst below:ack above:ack"
    assert _measured(data, "rfc1337_ignore_rst_in_time_wait")["measured"] is True


@pytest.mark.netns
def test_nodemcu_3_matches_its_manifest(probed: dict[str, dict[str, Any]]) -> None:
    assert failures(probed["nodemcu-3.0"]) == []


# -- no bench needed ---------------------------------------------------------------------


def test_every_probe_file_is_a_probe() -> None:
    names = catalog.probe_names()
    assert len(names) >= 10
    for name in names:
        module = catalog.load_probe(name)
        assert module.__doc__ and "Timeline" in module.__doc__, name
        assert Path(module.__file__ or "").stem == name


def test_app_probes_are_in_the_catalog() -> None:
    names = catalog.probe_names()
    for name in ("accept_queue", "serial_service", "client_fin_ack"):
        assert name in names
    assert set(catalog.load_probe("serial_service").BEHAVIOURS) == {
        "serial_service",
        "queued_behind_served_s",
    }


def test_judge_app_expectations() -> None:
    node3 = load_variant("nodemcu-3.0")
    assert judge(node3, {"behaviour": "client_fin_ack", "measured": "on_retransmit"})["pass"]
    assert not judge(node3, {"behaviour": "client_fin_ack", "measured": "immediate"})["pass"]
    a27 = load_variant("arduino-esp8266-2.7")
    assert judge(a27, {"behaviour": "queued_behind_served_s", "measured": 1.8})["pass"]
    assert not judge(a27, {"behaviour": "queued_behind_served_s", "measured": 0.0})["pass"]
    assert judge(a27, {"behaviour": "accept_queue_overflow", "measured": "syn_dropped:6"})["pass"]


def test_judge_bounds_and_tolerance() -> None:
    variant = load_variant("nodemcu-3.0")
    row = judge(variant, {"behaviour": "time_wait_s", "measured": 10.3})
    assert row["pass"] is True and row["citation"]
    assert judge(variant, {"behaviour": "time_wait_s", "measured": 11.0})["pass"] is False
    # watched for 30 s and still in TIME_WAIT: contradicts a 10 s manifest
    assert (
        judge(variant, {"behaviour": "time_wait_s", "measured": 30.0, "bound": "lower"})["pass"]
        is False
    )
    assert (
        judge(
            load_variant("nodemcu-2016"),
            {"behaviour": "time_wait_s", "measured": 30.0, "bound": "lower"},
        )["pass"]
        is True
    )
    assert judge(variant, {"behaviour": "fin_retransmission", "measured": "x"})["pass"] is None


def test_known_difference_does_not_fail_verify() -> None:
    variant = load_variant("nodemcu-3.0")
    row = judge(variant, {"behaviour": "initial_rto_ms", "measured": 2900})
    assert row["pass"] is False and row.get("known_difference")
    data = {"results": [row], "probes": {"syn_ack_retransmission": {"status": "ok"}}}
    assert failures(data) == []
