"""The seed study: verdict rules, the per-packet tags, phased profiles, DTIM buffering in the
link, and a --quick run whose seed.json cites only connections that exist."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from closebench.errors import UserError
from closebench.load.behaviours import BEHAVIOURS
from closebench.load.profiles import load_profile, load_profile_file
from closebench.paths import repo_root
from closebench.seed import grid
from closebench.seed import verdicts as rules
from closebench.seed.ladder import ladder
from closebench.seed.packets import ACK, FIN, PSH, RST, SYN, tag, teardown_composition
from closebench.seed.timers import orphan_span_s
from closebench.variants.manifest import load_variant

# --- verdict rules on figures we build --------------------------------------------------


def figures(**over: object) -> rules.CellFigures:
    base = dict(
        cell_id="c",
        connections=20,
        first_faulty=None,
        clean_before_first_fault=20,
        faulty_after_first=0,
        after_first=0,
        closers={"device": 20},
        device_fin_gap_s_median=0.01,
        duels=[],
        back_and_forth=[],
        after_load={"packets": 0},
        after_load_duels=[],
        phases=[
            {"interval_s": 1.0, "connections": 10, "faulty": 0, "duels": 0},
            {"interval_s": 0.2, "connections": 50, "faulty": 0, "duels": 0},
        ],
    )
    base.update(over)
    return rules.CellFigures(**base)  # type: ignore[arg-type]


def test_clean_run_reproduces_only_the_closer() -> None:
    v = rules.judge(figures())
    assert v == {"3": rules.NOT, "4": rules.REPRODUCED, "5": rules.NOT, "6": rules.NOT,
                 "7": rules.NOT}  # fmt: skip


def test_obs3_needs_a_clean_start_and_stumbling() -> None:
    first = {"conn_id": 7, "index": 8}
    good = figures(first_faulty=first, clean_before_first_fault=7, faulty_after_first=9,
                   after_first=12)  # fmt: skip
    assert rules.obs3(good) == rules.REPRODUCED
    # faults from the very first connection: "at first smoothly" does not hold
    assert rules.obs3(figures(first_faulty=first, clean_before_first_fault=0,
                              faulty_after_first=9, after_first=12)) == rules.PARTLY  # fmt: skip
    # one lone fault among many clean closes is not "stumbling"
    assert rules.obs3(figures(first_faulty=first, clean_before_first_fault=7,
                              faulty_after_first=1, after_first=12)) == rules.PARTLY  # fmt: skip


def test_obs4_closer_and_promptness() -> None:
    assert rules.obs4(figures(closers={"device": 5, "client": 15})) == rules.NOT
    assert rules.obs4(figures(closers={"device": 15, "client": 5})) == rules.PARTLY
    assert rules.obs4(figures(device_fin_gap_s_median=3.0)) == rules.PARTLY


def _faults(after_first: int, duels_after: int, back: list[int]) -> rules.CellFigures:
    """A hand-made cell: 5 clean closes, a first faulty one (conn 5), `after_first` faulty
    closes after it of which `duels_after` are back-and-forth duels."""
    return figures(
        first_faulty={"conn_id": 5, "index": 6, "t_s": 5.0, "phase": 1},
        clean_before_first_fault=5,
        faulty_after_first=after_first,
        after_first=after_first + 4,
        duels=list(back),
        back_and_forth=list(back),
        duels_after_first=duels_after,
    )


def test_obs5_rule_the_duel_is_how_closes_go_wrong() -> None:
    # stated before measuring (issue 26): >= half of the faulty closes after the first are duels
    assert rules.obs5(_faults(10, 10, list(range(6, 16)))) == rules.REPRODUCED  # all duels
    assert rules.obs5(_faults(10, 5, list(range(6, 11)))) == rules.REPRODUCED  # exactly half
    assert rules.obs5(_faults(10, 4, list(range(6, 10)))) == rules.PARTLY  # fewer than half
    # the old rule's case: one duel among ~200 connections is "partly" now, not "reproduced"
    assert rules.obs5(_faults(199, 1, [42])) == rules.PARTLY
    # non-duel cases: faulty closes without any back-and-forth duel
    assert rules.obs5(_faults(10, 0, [])) == rules.NOT
    assert rules.obs5(figures(duels=[3])) == rules.NOT  # one-sided: not a back-and-forth
    assert rules.obs5(figures()) == rules.NOT  # clean cell
    # the only back-and-forth duel is the first faulty close, nothing faulty after it
    assert rules.obs5(_faults(0, 0, [5])) == rules.PARTLY
    assert "50%" in rules.RULE_TEXT["5"] and "one duel among ~200" in rules.OBS5_RULE_CHANGE["why"]


def test_obs6_duels() -> None:
    assert rules.obs6(figures(after_load={"packets": 4})) == rules.PARTLY
    assert rules.obs6(figures(after_load={"packets": 4}, after_load_duels=[3])) == rules.REPRODUCED


def test_obs7_contrast_between_phases() -> None:
    fast_bad = [
        {"interval_s": 1.0, "connections": 60, "faulty": 0, "duels": 0},
        {"interval_s": 0.2, "connections": 300, "faulty": 150, "duels": 10},
    ]
    assert rules.obs7(figures(phases=fast_bad)) == rules.REPRODUCED
    same = [
        {"interval_s": 1.0, "connections": 60, "faulty": 30, "duels": 0},
        {"interval_s": 0.2, "connections": 300, "faulty": 150, "duels": 0},
    ]
    assert rules.obs7(figures(phases=same)) == rules.NOT
    slightly = [
        {"interval_s": 1.0, "connections": 60, "faulty": 25, "duels": 0},
        {"interval_s": 0.2, "connections": 300, "faulty": 150, "duels": 0},
    ]
    assert rules.obs7(figures(phases=slightly)) == rules.PARTLY


def test_overall_tie_goes_to_the_weaker() -> None:
    assert rules.overall([rules.REPRODUCED, rules.NOT]) == rules.NOT
    assert rules.overall([rules.REPRODUCED] * 3 + [rules.PARTLY] * 2) == rules.REPRODUCED
    assert rules.overall([]) == rules.NOT_MEASURED  # no cell completed: nothing judged


# --- Wireshark-style tags on a small frame -------------------------------------------------


def test_tags_retransmission_and_dup_ack() -> None:
    rows = [  # ts, from_device, flags, seq, ack, win, length
        (0.0, False, SYN, 100, 0, 64240, 0),
        (0.1, True, SYN | ACK, 500, 101, 5840, 0),
        (0.2, False, ACK | PSH, 101, 501, 64240, 20),
        (0.3, True, ACK | PSH, 501, 121, 5840, 40),
        (0.4, True, ACK | FIN, 541, 121, 5840, 0),
        (0.5, False, ACK, 121, 542, 64240, 0),
        (0.6, False, ACK, 121, 542, 64240, 0),  # duplicate ACK (client)
        (0.7, True, ACK | FIN, 541, 121, 5840, 0),  # retransmitted FIN (device)
        (0.8, False, RST, 121, 0, 0, 0),
    ]
    frame = pd.DataFrame(rows, columns=["ts", "from_device", "flags", "seq", "ack", "win",
                                        "length"])  # fmt: skip
    t = tag(frame)
    assert t["retx"].tolist() == [False] * 7 + [True, False]
    assert t["dup_ack"].tolist() == [False] * 6 + [True, False, False]
    comp = teardown_composition(t)
    assert comp["device"] == {"packets": 2, "fin": 2, "rst": 0, "retransmissions": 1,
                              "dup_acks": 0, "pure_acks": 0, "data": 0}  # fmt: skip
    assert comp["client"]["dup_acks"] == 1 and comp["client"]["rst"] == 1
    assert t["names"].iloc[4] == "FIN, ACK"


def test_orphan_span() -> None:
    assert orphan_span_s(0) == pytest.approx(102.2)  # 8 retries from 200 ms
    assert orphan_span_s(2) == pytest.approx(1.4)


# --- the profile's phases -------------------------------------------------------------------


def test_seed_profile_phases() -> None:
    p = load_profile("seed-2016")
    assert [(ph.interval_s, ph.run_time_s) for ph in p.phases] == [(1.0, 60.0), (0.2, 60.0)]
    assert p.interval_at(59.9) == 1.0 and p.interval_at(60.1) == 0.2
    assert p.interval_at(5.9, 12) == 1.0 and p.interval_at(6.1, 12) == 0.2  # --quick keeps 1:1
    assert p.nominal_rate() == pytest.approx(5.0)
    assert load_profile("seed-1s").phases == ()


@pytest.mark.parametrize(
    ("tail", "field"),
    [
        ("[[phases]]\ninterval_s = 1.0\nrun_time_s = 50\n", "phases"),  # does not add up
        ("[[phases]]\ninterval_s = 0.5\nrun_time_s = 60\n", "interval_s"),  # first != interval_s
        ("[[phases]]\ninterval_s = 1.0\n", "phases[0].run_time_s"),
        ("[[phases]]\ninterval_s = 1.0\nrun_time_s = 60\nburst = 2\n", "phases[0].burst"),
    ],
)
def test_bad_phases(tmp_path: Path, tail: str, field: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'description = "x"\nuser_class = "SeedUser"\nmethod = "HEAD"\npaths = ["/"]\n'
        "interval_s = 1.0\nusers = 1\nspawn_rate = 1\nrun_time_s = 60\nmax_requests = 70\n" + tail
    )
    with pytest.raises(UserError) as err:
        load_profile_file(path)
    assert str(err.value).startswith(f"{path}: {field}:")


# --- DTIM buffering in the device's link ------------------------------------------------------

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "host.h"
uint64_t mono_us(void) { return 0; }
int main(int argc, char **argv) {
  struct link_params p; char err[200]; uint8_t f[60] = {0}, buf[100];
  uint64_t pushed[200];
  int np = 0;
  if (link_parse(argv[1], &p, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 2; }
  struct link *l = link_new(&p, strtoull(argv[2], 0, 10));
  printf("ideal %d\n", link_ideal(l));
  for (uint64_t t = 1000000; t < 4000000; t += 100) {
    if (t < 3000000 && (t - 1000000) % 37000 == 0) {
      f[0] = (uint8_t)np;
      pushed[np++] = t;
      link_push(l, f, 60, t);
    }
    size_t n;
    while ((n = link_pop(l, buf, sizeof buf, t)) > 0)
      printf("%d %llu %llu\n", buf[0], (unsigned long long)pushed[buf[0]], (unsigned long long)t);
  }
  return 0;
}
"""


@pytest.fixture(scope="module")
def link_harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from shutil import which

    if which("gcc") is None:
        pytest.skip("gcc is not installed")
    out = tmp_path_factory.mktemp("link")
    src = out / "harness.c"
    src.write_text(HARNESS)
    dev = repo_root() / "firmware_variants" / "device"
    subprocess.run(
        ["gcc", "-Wall", "-Werror", "-O1", f"-I{dev}", str(src), str(dev / "link.c"),
         "-o", str(out / "harness")],
        check=True,
    )  # fmt: skip
    return out / "harness"


def _pops(harness: Path, spec: str, seed: int) -> tuple[int, list[tuple[int, int, int]]]:
    out = subprocess.run([str(harness), spec, str(seed)], capture_output=True, text=True,
                         check=True).stdout.split("\n")  # fmt: skip
    ideal = int(out[0].split()[1])
    rows = [tuple(int(x) for x in line.split()) for line in out[1:] if line.strip()]
    return ideal, rows  # type: ignore[return-value]


def test_dtim_frames_leave_only_at_dtim_boundaries(link_harness: Path) -> None:
    spec = "delay_ms=0,jitter_ms=0,loss=0,reorder=0,rate_kbps=0,queue=1000,beacon_ms=102.4,dtim=2"
    period = 204800
    for seed in (1, 7, 12345):
        ideal, rows = _pops(link_harness, spec, seed)
        assert not ideal and len(rows) == 55  # nothing lost, nothing passes unbuffered
        phases = {pop % period for _, _, pop in rows}
        # every frame leaves at a DTIM beacon (one phase, 0.1 ms steps of the harness clock)
        assert max(phases) - min(phases) <= 100, phases
        for _, pushed, popped in rows:
            assert 0 <= popped - pushed <= period + 100
        assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # order kept


def test_no_beacon_keeps_the_link_unchanged(link_harness: Path) -> None:
    ideal, rows = _pops(link_harness, "delay_ms=0", 1)
    assert ideal and all(pushed == popped for _, pushed, popped in rows)
    _, plain = _pops(link_harness, "delay_ms=2,jitter_ms=1,loss=0.2", 9)
    _, zero = _pops(link_harness, "delay_ms=2,jitter_ms=1,loss=0.2,beacon_ms=0,dtim=3", 9)
    assert plain == zero  # same seed, same drops and times


# --- the --quick run -----------------------------------------------------------------------------


def test_quick_seed_run(bench: Path) -> None:
    from closebench.seed import CONTROL, VARIANT, run_seed_study

    run_dir = run_seed_study(quick=True, results=bench / "results", verify=False, log=print)
    doc = json.loads((run_dir / "seed.json").read_text())
    assert doc["schema_version"] == 2 and doc["quick"] is True
    # every hypothesis (2 apps x the client behaviours x the band's speeds) and the control
    # per client; a band end that is the model itself runs once, as the model
    nodemcu = load_variant(VARIANT)
    speeds = grid.speed_axis("model", nodemcu)
    hyps = doc["hypotheses"]
    assert {(h["app"], h["client"], h["speed"]) for h in hyps} == {
        (a, c, s) for s in speeds for a in ("readme", "http11") for c in BEHAVIOURS
    }
    for h in hyps:
        assert set(h["verdicts"]) == set(rules.OBSERVATIONS)
        assert h["consistent"] == (h["text"] == "consistent with all observations")
        assert h["ruled_out_by"] == [k for k, v in h["verdicts"].items() if v == rules.NOT]
    assert len(doc["variants"]) == len(hyps) + len(BEHAVIOURS)
    assert sum(name.startswith(CONTROL) for name in doc["variants"]) == len(BEHAVIOURS)
    assert all(name.startswith((VARIANT, CONTROL)) for name in doc["variants"])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    apps = {c["app"] for c in manifest["cells"] if c["variant"].startswith(VARIANT)}
    assert apps == {"readme", "http11"}  # cells say which app ran
    band = [s for s in grid.SPEED_BAND if s in speeds or s in grid.same_as_model(nodemcu)]
    assert [b["speeds_measured"] for b in doc["band"]] == [band] * (len(hyps) // len(speeds))
    assert doc["rule_changes"]["5"]["why"]
    assert [p[2] for p in doc["procedure"]["phases_s"]] == [1.0, 0.2]
    for name, var in doc["variants"].items():
        assert set(var["observations"]) == set(rules.OBSERVATIONS)
        for key, obs in var["observations"].items():
            assert obs["verdict"] in rules.VERDICTS, (name, key)
            assert obs["seeds"] == 1 and obs["evidence"]
            for ev in obs["evidence"]:
                assert ev["verdict"] in rules.VERDICTS
                conns = pd.read_parquet(run_dir / ev["cell_id"] / "connections.parquet")
                missing = set(ev["conn_ids"]) - set(conns["conn_id"].astype(int))
                assert not missing, (name, key, missing)
        pick = var["characteristic"]
        assert pick is not None
        conns = pd.read_parquet(run_dir / pick["cell_id"] / "connections.parquet")
        assert pick["conn_id"] in set(conns["conn_id"].astype(int))


# --- a duel's ladder: RST relations and Linux's RFC 5961 judgement -------------------------


def test_ladder_names_rst_relations_and_rfc5961() -> None:
    rows = [  # ts, from_device, flags, seq, ack, win, length, wscale
        (0.0, False, SYN, 100, 0, 64240, 0, 10),
        (0.1, True, SYN | ACK, 500, 101, 5840, 0, -1),
        (0.2, False, ACK | PSH, 101, 501, 63, 20, -1),  # Linux's window 63 << 10 = 64512
        (0.3, True, ACK | PSH, 501, 121, 5840, 40, -1),
        (0.4, True, ACK | FIN, 541, 121, 5840, 0, -1),
        (0.5, False, ACK, 121, 542, 63, 0, -1),  # Linux's rcv_nxt is now 542
        (0.6, True, RST | ACK, 542, 121, 0, 0, -1),  # exact: accepted
        (0.7, True, RST, 600, 0, 0, 0, -1),  # inside the window, not exact: challenge ACK
        (0.8, False, ACK, 121, 542, 63, 0, -1),  # the challenge ACK answering it
        (0.9, True, RST | ACK, 542 + 70000, 121, 0, 0, -1),  # beyond 64512: dropped
        (1.0, False, RST, 121, 0, 0, 0, -1),  # the laptop's RST: seq = the device's ack
    ]
    cols = ["ts", "from_device", "flags", "seq", "ack", "win", "length", "wscale"]
    out = ladder(tag(pd.DataFrame(rows, columns=cols)), load_stop=0.75)
    notes = [r["note"] for r in out["rows"]]
    assert out["rsts"] == 4 and out["client_window_scale"] == 10
    assert notes[6].startswith("seq = ack of the segment it answers")
    assert "accepted, Linux resets" in notes[6]
    assert "challenge ACK" in notes[7] and "seq > ack of the segment it answers by 58" in notes[7]
    assert notes[8].startswith("ACK answering the peer's RST")
    assert "outside Linux's window: Linux drops it" in notes[9]
    assert notes[10] == "seq = ack of the segment it answers"
    assert [r["from"] for r in out["rows"][:2]] == ["laptop", "device"]
    assert out["went_on_after_load_s"] == pytest.approx(0.25)
