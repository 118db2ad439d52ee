"""The lx106 base: a program built for the ESP8266's core runs under QEMU, and the counter is exact.

The oracle is the hand-written loop in firmware_variants/chip/loop_test.c: between its two
marks run `movi`, `add`, n x (`addi`, `bnez`) and the next mark's call site, so the count
must be 2 + 2n more than two back-to-back marks, and two loop lengths must differ by exactly
twice the difference of their n.
"""

from __future__ import annotations

import pytest

from closebench.chip.build import ProgramSpec, build_program, chip_source_dir
from closebench.chip.run import run_program
from closebench.chip.toolchain import find_toolchain, missing_tools

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
