"""The seed study's hypothesis grid, its conclusions and band view, the cooldown's quiet signals,
and --app on a matrix."""

from __future__ import annotations

from pathlib import Path

import pytest

from closebench.errors import UserError
from closebench.load.behaviours import BEHAVIOURS, behaviour_of
from closebench.load.profiles import load_profile
from closebench.pipeline import quiet, runner
from closebench.seed import grid
from closebench.seed import verdicts as rules
from closebench.variants.manifest import load_variant
from closebench.variants.timing import DEVICE_SPEEDS

R, P, N = rules.REPRODUCED, rules.PARTLY, rules.NOT


def test_speed_axis_is_the_band_the_bench_defines() -> None:
    assert grid.speed_axis("model") == [s for s in grid.SPEED_BAND if s in DEVICE_SPEEDS]
    assert "model" in grid.speed_axis("model")
    assert grid.speed_axis("host") == ["host"]
    assert grid.Hypothesis("readme", "read-until-close", "host").label.endswith(
        "host speed (faster than any chip)"
    )


def test_every_app_client_speed_is_a_hypothesis() -> None:
    base = load_variant("nodemcu-2016")
    hyps = grid.hypotheses(base, ["model"])
    assert len(hyps) == len(base.apps) * len(BEHAVIOURS)
    assert hyps[0].app == "readme"  # the default app first
    v = grid.variant_for(base, "http11", "model")
    assert v.name == "nodemcu-2016+http11" and v.app == "http11" and v.device_speed == "model"
    for h in hyps:  # each client behaviour's profile says that behaviour
        assert behaviour_of(load_profile(h.profile).client_close).name == h.client


def test_conclusion_names_what_rules_a_hypothesis_out() -> None:
    assert grid.conclusion(dict.fromkeys("34567", R))["text"] == "consistent with all observations"
    c = grid.conclusion({"3": R, "4": N, "5": P, "6": N, "7": R})
    assert not c["consistent"] and c["ruled_out_by"] == ["4", "6"] and c["partly"] == ["5"]
    assert c["text"] == "ruled out by observation 4, 6 (partly: 5)"
    c = grid.conclusion({"3": R, "4": R, "5": R, "6": R, "7": P})
    assert not c["consistent"] and c["text"] == "not ruled out; partly reproduces 7"


def test_band_view_marks_timing_sensitive_verdicts() -> None:
    rows = [
        {"app": "readme", "client": "c", "speed": s, "verdicts": {**dict.fromkeys("34567", R),
                                                                  "5": v}}
        for s, v in (("model-slow", N), ("model", P), ("model-fast", R))
    ]  # fmt: skip
    (band,) = grid.band_view(rows)
    assert band["speeds_missing"] == []
    five = band["observations"]["5"]
    assert five["timing_sensitive"]
    want = "timing-sensitive: not reproduced at model-slow, reproduced at model-fast"
    assert five["text"] == want
    assert not band["observations"]["3"]["timing_sensitive"]
    (only,) = grid.band_view([{**rows[1]}])
    assert only["speeds_missing"] == ["model-slow", "model-fast"]


def test_app_on_a_matrix() -> None:
    m = runner.make_matrix(["nodemcu-2016", "linux-reference"], ["seed-2016"], ["ideal"],
                           app="http11")  # fmt: skip
    apps = {p.variant.name: p.variant.app for p in m.cells()}
    assert apps == {"nodemcu-2016": "http11", "linux-reference": None}
    assert all(p.record()["app"] == apps[p.variant.name] for p in m.cells())
    with pytest.raises(UserError, match="--app nope: no chosen variant names it"):
        runner.make_matrix(["nodemcu-2016"], ["seed-2016"], ["ideal"], app="nope")


PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 010012C6:B3E2 020012C6:0050 06 00000000:00000000 03:00000DA5 00000000     0        0 0
   1: 010012C6:B3E4 020012C6:0050 09 00000000:00000000 01:00000020 00000000     0        0 1
   2: 010012C6:B3E6 030012C6:0050 01 00000000:00000000 00:00000000 00000000     0        0 2
   3: 010012C6:B3E8 020012C6:0050 05 00000000:00000000 00:00000000 00000000     0        0 3
"""


def test_linux_side_busy_from_proc_net_tcp(tmp_path: Path) -> None:
    f = tmp_path / "tcp"
    f.write_text(PROC_NET_TCP)
    # TIME_WAIT (06) and FIN_WAIT2 (05) send nothing unprompted; LAST_ACK (09) may; the
    # ESTABLISHED socket goes to another address
    assert quiet.linux_busy("198.18.0.2", f) == 1
    assert quiet.linux_busy("198.18.0.3", f) == 1
    assert quiet.linux_busy("198.18.0.9", f) == 0


def test_device_side_busy_from_its_timeline(tmp_path: Path) -> None:
    head = "epoch_s,t_ms,reason,led,listen,syn_rcvd,established,fin_wait_1,fin_wait_2,close_wait,"
    head += "closing,last_ack,time_wait,pcbs\n"
    t = tmp_path / "device.csv"
    t.write_text(head + "1.0,0,tick,0,1,0,0,0,0,0,0,2,3,5\n1.1,100,tick,0,1,0,0,0,1,0,0,0,4,5\n")
    assert quiet.device_busy(t) == 0  # FIN_WAIT_2 and TIME_WAIT only
    t.write_text(t.read_text() + "1.2,200,tick,0,1,0,0,0,1,0,0,1")  # a row still being written
    assert quiet.device_busy(t) == 0  # read from the last complete row
    t.write_text(head + "1.0,0,tick,0,1,1,2,0,0,0,0,1,0,4\n")
    assert quiet.device_busy(t) == 4
    assert quiet.device_busy(tmp_path / "missing.csv") == 0


def test_a_band_end_equal_to_the_model_is_run_once_and_shown_as_the_model() -> None:
    band = {"stack": {"accept": {"us": [50, 50, 70]}}, "app": {"receive": {"us": [9, 9, 12]}}}
    assert grid.ends_at_model(band) == ["model-fast"]
    assert grid.ends_at_model({"stack": {"accept": {"us": [40, 50, 70]}}}) == []
    assert grid.ends_at_model({}) == ["model-slow", "model-fast"]  # no interval at all
    nodemcu = load_variant("nodemcu-2016")
    axis = grid.speed_axis("model", nodemcu)
    assert "model" in axis and not set(axis) & set(grid.same_as_model(nodemcu))
    rows = [
        {"app": "a", "client": "c", "speed": "model", "verdicts": {"4": "reproduced"}},
        {"app": "a", "client": "c", "speed": "model-slow", "verdicts": {"4": "not reproduced"}},
    ]
    (view,) = grid.band_view(rows, ["model-fast"])
    assert view["speeds_same_as_model"] == ["model-fast"]
    assert view["observations"]["4"]["at"]["model-fast"] == "reproduced"
    assert view["observations"]["4"]["timing_sensitive"]


def test_a_hypothesis_whose_cells_all_failed_is_not_measured_not_ruled_out() -> None:
    # its cells were skipped (a failed verify): no verdict, which is not "not reproduced"
    assert rules.overall([]) == rules.NOT_MEASURED
    verdicts = dict.fromkeys(rules.OBSERVATIONS, rules.NOT_MEASURED)
    out = grid.conclusion(verdicts)
    assert out["ruled_out_by"] == [] and not out["consistent"]
    assert out["text"].startswith("not measured")
    rows = [
        {"app": "a", "client": "c", "speed": "model", "verdicts": {"4": rules.REPRODUCED}},
        {"app": "a", "client": "c", "speed": "model-slow", "verdicts": {"4": rules.NOT_MEASURED}},
    ]
    (view,) = grid.band_view(rows)
    assert not view["observations"]["4"]["timing_sensitive"]
