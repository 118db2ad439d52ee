"""The lx106 base: a program built for the ESP8266's core runs under QEMU, and the counter is exact.

The oracle is the hand-written loop in firmware_variants/chip/loop_test.c: between its two
marks run `movi`, `add`, n x (`addi`, `bnez`) and the next mark's call site, so the count
must be 2 + 2n more than two back-to-back marks, and two loop lengths must differ by exactly
twice the difference of their n.
"""

from __future__ import annotations

import pytest

from closebench.bench import exact_source
from closebench.bench.variant_build import archives_of
from closebench.chip import coremark, events
from closebench.chip.build import ProgramSpec, build_program, chip_source_dir
from closebench.chip.measure import measure_stack
from closebench.chip.run import run_program
from closebench.chip.toolchain import find_toolchain, missing_tools
from closebench.variants.manifest import load_variant

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason=missing_tools() or "tools here")


@pytest.fixture(scope="module")
def loop_run(tmp_path_factory: pytest.TempPathFactory):
    tools = find_toolchain()
    spec = ProgramSpec(name="loop_test", sources=(chip_source_dir() / "loop_test.c",))
    return run_program(tools, build_program(tools, spec), timeout_s=60)


def test_the_program_runs_to_its_exit(loop_run) -> None:
    assert loop_run.returncode == 0
    assert loop_run.stdout.endswith("done\n")
    assert [tag for tag, _ in loop_run.marks] == ["empty0", "empty1", *["before", "after"] * 2]


def test_counts_are_exact_against_the_hand_written_loop(loop_run) -> None:
    spans = loop_run.intervals()
    empty = spans[0][2]
    loops = [n for a, b, n in spans if (a, b) == ("before", "after")]
    assert loops[0] - loops[1] == 2 * (1000 - 10)
    assert [n - empty for n in loops] == [2 + 2 * 1000, 2 + 2 * 10]
    assert loop_run.total >= sum(loops)


def test_events_charge_sends_and_leave_the_app_out() -> None:
    # One SYN piece (100 instructions, a SYN-ACK built in its last 30 from tcp_output's
    # entry), one request piece with the app stand-in's answer (50) and a data segment (40),
    # one timer pass, one idle pass.
    stream = [
        ("in 00000000 0000003c 00000002", 1000),
        ("@tcp_output", 1070),
        ("tx 0000003a 00000012 00000050", 1100),
        ("end", 1100),
        ("in 00000001 00000080 00000018", 2000),
        ("app", 2010),
        ("append", 2060),
        ("@tcp_output", 2100),
        ("tx 00000080 00000018 00000050", 2140),
        ("end", 2150),
        ("poll", 3000),
        ("@tcp_tmr", 3001),
        ("pend", 3020),
        ("poll", 4000),
        ("pend", 4005),
    ]
    found = events.event_counts(stream)
    assert found["syn"] == [70] and found["send"] == [30, 40] and found["response"] == [40]
    assert found["request"] == [150 - 50 - 40] and found["app"] == [50]
    assert found["timer"] == [20] and found["idle"] == [5] and found["loop"] == []


WORKLOAD = "nodemcu-2016"


@pytest.mark.skipif(
    bool(exact_source.missing(archives_of(load_variant(WORKLOAD).source))),
    reason="nodemcu-2016's source archive is not here (CLOSEBENCH_SOURCES)",
)
def test_the_stack_on_lx106_replays_the_recorded_cell_as_recorded() -> None:
    # The oracle: the device's own segments in the recorded cell (the bench's real run), by
    # kind, against what the stack built for lx106 sends when fed the same client frames.
    meas = measure_stack(load_variant(WORKLOAD), None, lambda m: None, limit=150)
    assert meas.replay and all(rec == live for rec, live in meas.replay.values()), meas.replay
    assert meas.counts["syn"].n > 10 and meas.counts["syn"].low > 500
    assert meas.model_instructions["accept"] > 0 and meas.model_instructions["timer"] > 0


@pytest.mark.skipif(
    bool(exact_source.missing([coremark.ARCHIVE])),
    reason="the eembc/coremark archive is not here (CLOSEBENCH_SOURCES)",
)
def test_coremark_under_qemu_is_the_published_run() -> None:
    # The oracle: the published log's checksums (seedcrc .. crcfinal 0x5275 for 2500
    # iterations), which measure_cpi checks before it divides.
    tools = find_toolchain()
    ochrin = coremark.PUBLISHED[0]
    point = coremark.measure_cpi(tools, ochrin)
    assert point.instructions == round(point.per_iteration * ochrin.iterations)
    assert point.cpi == pytest.approx(coremark.CLOCK_HZ / ochrin.score / point.per_iteration)
    assert 1.0 < point.cpi < 4.0  # an in-order core: neither below one cycle nor far above
