"""A variant's exact stack built for lx106: the same sources and defines as its host build.

The host build's own compile plan (bench/exact: espressif_lwip14.compile_plan,
arduino_lwip2.prepare) gives every source file with its flags; here the host-only parts go
(-m32, the host -O2, the TAP/link/pcap/timeline main loop) and the firmware's own optimisation
flags come in, cited below from the Makefile that builds the stack into the firmware. The
harness (stack_harness.c) takes the host main loop's place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from closebench.bench import exact_source
from closebench.bench.exact import arduino_lwip2, espressif_lwip14
from closebench.bench.variant_build import archives_of
from closebench.chip.build import ProgramSpec, chip_source_dir
from closebench.errors import UserError
from closebench.paths import cache_dir
from closebench.variants.manifest import Variant

# The host main loop and its helpers: the harness replaces them (httppage.c stays: the app's).
HOST_ONLY = {"main.c", "tap.c", "link.c", "pcap.c", "timeline.c"}
DROPPED_FLAGS = {"-m32", "-O2", "-c"}


@dataclass(frozen=True)
class FirmwareFlags:
    flags: tuple[str, ...]
    cite: str  # repo@commit:path "line"


# The optimisation flags each firmware compiles its stack with (the lx106 base flags
# -mlongcalls -mtext-section-literals -ffunction-sections -fdata-sections are in build.py).
FIRMWARE_FLAGS = {
    "nodemcu/nodemcu-firmware@98d3b46e2c11068f361154a564ce75a048c9dadc": FirmwareFlags(
        ("-Os", "-fno-jump-tables", "-fno-inline-functions"),
        'nodemcu/nodemcu-firmware@98d3b46:Makefile "CCFLAGS += -Os -ffunction-sections '
        '-fno-jump-tables -fdata-sections" (gcc branch) and "-fno-inline-functions"',
    ),
    "nodemcu/nodemcu-firmware@4b92eab71a3573a3f948977878514de7def76ff8": FirmwareFlags(
        ("-O2", "-fno-jump-tables", "-fno-inline-functions"),
        'nodemcu/nodemcu-firmware@4b92eab:Makefile "CCFLAGS += -O2" (not DEBUG), '
        '"CCFLAGS += -ffunction-sections -fno-jump-tables -fdata-sections" and '
        '"-fno-inline-functions"',
    ),
    "pfalcon/esp-open-lwip@8c39d2179a273553466043f388772abb6251a4ca": FirmwareFlags(
        ("-Os", "-mforce-l32"),
        'pfalcon/esp-open-lwip@8c39d21:Makefile.open "COPT = -Os" and "CFLAGS = $(DEFS) '
        '$(COPT) -Iinclude -Wl,-EL -mlongcalls -mtext-section-literals -mforce-l32"',
    ),
    "d-a-v/esp82xx-nonos-linklayer@92add5010fc329cbfbbcb1ce713108451cf9fc8c": FirmwareFlags(
        ("-Os", "-fno-inline-functions", "-falign-functions=4"),
        'd-a-v/esp82xx-nonos-linklayer@92add50:makefiles/Makefile.defs "BUILD_FLAGS += -Wall '
        "-Wextra -c -Os -g -Wpointer-arith -Wl,-EL -fno-inline-functions -nostdlib -mlongcalls "
        '-mtext-section-literals -falign-functions=4 -MMD -ffunction-sections -fdata-sections"',
    ),
    "d-a-v/esp82xx-nonos-linklayer@8e3c4eec00ec7f3962705ee095a310642953b5fb": FirmwareFlags(
        ("-Os", "-free", "-fipa-pta", "-fno-inline-functions", "-falign-functions=4"),
        'd-a-v/esp82xx-nonos-linklayer@8e3c4ee:makefiles/Makefile.defs "BUILD_FLAGS += -Wall '
        "-Wextra -c -Os -g -free -fipa-pta -Wpointer-arith -Wl,-EL -fno-inline-functions "
        "-nostdlib -mlongcalls -mtext-section-literals -falign-functions=4 -MMD "
        '-ffunction-sections -fdata-sections"',
    ),
}


def firmware_flags(variant: Variant) -> FirmwareFlags:
    source = variant.source
    if source is None:
        raise UserError(f"{variant.manifest_file}: no [source] table; no exact stack to build")
    for archive in source.archives:
        found = FIRMWARE_FLAGS.get(f"{archive.repo}@{archive.commit}")
        if found:
            return found
    raise UserError(
        f"{variant.manifest_file}: [source] names no archive whose build flags are known"
    )


def _split(cmd: list[str]) -> tuple[list[str], list[Path]]:
    """A host gcc command -> (its flags without the host-only ones, its C sources)."""
    flags: list[str] = []
    sources: list[Path] = []
    args = iter(cmd[1:])
    for arg in args:
        if arg == "-o":
            next(args, None)
        elif arg == "-include":
            flags += [arg, next(args)]
        elif arg.startswith("-"):
            flags += [] if arg in DROPPED_FLAGS else [arg]
        elif arg.endswith(".c"):
            sources.append(Path(arg))
    return flags, sources


def host_plan(variant: Variant, work: Path, log: Callable[[str], None]) -> list[list[str]]:
    """The host build's gcc commands for VARIANT (its verified source archives unpacked)."""
    source = variant.source
    if source is None:
        raise UserError(f"{variant.manifest_file}: no [source] table; no exact stack to build")
    trees = exact_source.unpack_all(archives_of(source))
    work.mkdir(parents=True, exist_ok=True)
    if source.family in (espressif_lwip14.FAMILY_RAW, espressif_lwip14.FAMILY_ESPCONN):
        espconn = source.family == espressif_lwip14.FAMILY_ESPCONN
        return espressif_lwip14.compile_plan(trees, work, espconn=espconn)
    if source.family == arduino_lwip2.FAMILY:
        options = dict(variant.emulation.options)
        return [arduino_lwip2.prepare(trees, work, options, log, work / "unused")]
    raise UserError(f"{variant.manifest_file}: family {source.family!r} has no lx106 build")


def stack_spec(variant: Variant, workload_c: Path, log: Callable[[str], None]) -> ProgramSpec:
    """The lx106 program: the variant's stack as its host build compiles it, and the harness."""
    work = cache_dir() / "chip" / "work" / variant.name
    fw = firmware_flags(variant)
    jobs: list[tuple[Path, tuple[str, ...]]] = []
    compat = chip_source_dir() / "chip_compat.h"
    harness_flags: tuple[str, ...] = ()
    for cmd in host_plan(variant, work, log):
        flags, sources = _split(cmd)
        for src in sources:
            if src.name not in HOST_ONLY:
                jobs.append((src, (*flags, *fw.flags, "-include", str(compat))))
            elif src.name == "main.c":
                harness_flags = tuple(f for f in flags if f.startswith("-I"))
    harness = chip_source_dir() / "stack_harness.c"
    own = (*harness_flags, f"-I{chip_source_dir()}", "-O2")
    jobs += [(harness, own), (workload_c, own)]
    return ProgramSpec(
        name=f"stack-{variant.name}",
        sources=(),
        jobs=tuple(jobs),
        ldflags=("-Wl,--wrap=http_answer",),  # the app stand-in's part, marked (harness)
    )
