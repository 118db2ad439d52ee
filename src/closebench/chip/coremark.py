"""Cycles per instruction of the real ESP8266 from CoreMark: a published score on the chip at
80 MHz, and the instructions the same workload executes on the lx106 core under QEMU.

CPI = (80e6 / published iterations per second) / (instructions per iteration, counted here).
The real chip runs its code from SPI flash through a cache, which QEMU does not model; the
published scores include that, for CoreMark's small working set. Each published figure below
names what it was measured with; the flags are rebuilt here with Debian's GCC 12, not the
toolchain used for the figure (so the instruction count is this compiler's, an ASSUMPTION).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from closebench.bench import exact_source
from closebench.chip.build import ProgramSpec, build_program, chip_source_dir
from closebench.chip.run import run_program
from closebench.chip.toolchain import Toolchain
from closebench.errors import UserError

COREMARK_FILES = (
    "core_list_join.c",
    "core_main.c",
    "core_matrix.c",
    "core_state.c",
    "core_util.c",
    "coremark.h",
)
ARCHIVE = exact_source.Archive(
    repo="eembc/coremark",
    commit="d5fad6bd094899101a4e5fd53af7298160ced6ab",
    paths=COREMARK_FILES,
    tree_sha256="bb35a6c85765a363078918ebd79214156d8004517fb76796052a87920a2edacd",
)
CLOCK_HZ = 80_000_000
# A performance run's checksums (seeds 0, 0, 0x66), as the published logs print them.
CHECKSUMS = ("seedcrc:0xe9f5", "[0]crclist:0xe714", "[0]crcmatrix:0x1fd7", "[0]crcstate:0x8e3a")


@dataclass(frozen=True)
class PublishedScore:
    key: str
    where: str
    score: float  # CoreMark iterations per second on the chip
    iterations: int  # as in the published run (the QEMU run uses the same)
    flags: tuple[str, ...]  # optimisation flags the figure was compiled with
    on: str
    assumptions: str = ""
    crcfinal: str = ""  # the published log's final checksum, when it gives one


PUBLISHED = (
    PublishedScore(
        key="ochrin-O3",
        where=(
            "https://github.com/ochrin/coremark README.md (039112c: table row "
            '"ESP8266 | 80 | 191 | 2.375"; the ESP8266 RTOS SDK version of the README gives '
            'the run: "Iterations/Sec : 190.985485", "Iterations : 2500", '
            '"Compiler version : GCC5.2.0", "Compiler flags : -O3", "Memory location : STACK")'
        ),
        score=190.985485,
        iterations=2500,
        flags=("-O3",),
        on="ESP8266 at 80 MHz, ESP8266_RTOS_SDK release/v3.3, xtensa-lx106 GCC 5.2.0, -O3",
        crcfinal="0x5275",  # "[0]crcfinal : 0x5275" in the same log
    ),
    PublishedScore(
        key="stoffregen13-Os",
        where=(
            "https://github.com/PaulStoffregen/CoreMark/issues/13 (fab672000, 2024-07-18: "
            '"Results for ESP12/ESP12e are 121.88", Arduino sketch with the watchdogs off)'
        ),
        score=121.88,
        iterations=2000,
        flags=("-Os", "-free", "-fipa-pta", "-fno-inline-functions", "-falign-functions=4"),
        on="ESP-12/ESP-12E (ESP8266) with the Arduino core",
        assumptions=(
            "80 MHz and the Arduino core's C flags are ASSUMPTIONS (the post gives neither): "
            'esp8266/Arduino@3.1.2 boards.txt "generic.menu.xtal.80.build.f_cpu=80000000L" '
            "(the menu's first entry) and platform.txt compiler.c.flags \"-Os -g -free "
            '-fipa-pta ... -fno-inline-functions ... -falign-functions=4"; the iteration '
            "count is not given (2000 here: the count does not change iterations per second)"
        ),
    ),
)


@dataclass(frozen=True)
class CpiPoint:
    published: PublishedScore
    instructions: int  # in the timed region
    per_iteration: float
    cpi: float


def coremark_spec(tree: Path, published: PublishedScore) -> ProgramSpec:
    port = chip_source_dir() / "coremark"
    flags = " ".join(published.flags)
    return ProgramSpec(
        name=f"coremark-{published.key}",
        sources=(*(tree / f for f in COREMARK_FILES if f.endswith(".c")), port / "core_portme.c"),
        cflags=published.flags,
        includes=(port, tree),
        defines=(f"ITERATIONS={published.iterations}", f'COMPILER_FLAGS="{flags}"'),
    )


def measure_cpi(tools: Toolchain, published: PublishedScore, timeout_s: float = 900) -> CpiPoint:
    """Run CoreMark with PUBLISHED's flags and iterations; its CPI on the real chip."""
    tree = exact_source.unpack(ARCHIVE)
    run = run_program(tools, build_program(tools, coremark_spec(tree, published)), timeout_s)
    spans = {(a, b): n for a, b, n in run.intervals()}
    instructions = spans[("coremark start", "coremark stop")]
    # The port reports no time, so CoreMark's own verdict flags the run as too short; the
    # checksums of a performance run are what the published logs print.
    final = (f"[0]crcfinal:{published.crcfinal}",) if published.crcfinal else ()
    wrong = [line for line in (*CHECKSUMS, *final) if line not in run.stdout.replace(" ", "")]
    if wrong:
        raise UserError(f"CoreMark under QEMU: checksums differ ({', '.join(wrong)})")
    per_iteration = instructions / published.iterations
    cpi = CLOCK_HZ / published.score / per_iteration
    return CpiPoint(published, instructions, per_iteration, cpi)
