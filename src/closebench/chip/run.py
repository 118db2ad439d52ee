"""Run an lx106 program under QEMU and read its exact instruction counts.

The program marks the boundaries it wants counted by calling chip_mark(tag) (semihost.c);
the plugin cbcount.so appends the number of instructions executed so far each time
chip_mark's first instruction runs, leaving out the harness's own semihosting code. The
nth count pairs with the nth "mark <tag>" line on stdout. Functions of the code measured
(`functions=`) are noted the same way each time they are entered, as "@name".
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from closebench.chip.build import build_plugin
from closebench.chip.toolchain import Toolchain
from closebench.errors import UserError

QEMU_ARGS = ("-M", "sim", "-cpu", "lx106", "-semihosting", "-icount", "shift=0")
QUIET = ("-display", "none", "-monitor", "none", "-serial", "none")
MARK = "mark "


@dataclass(frozen=True)
class ChipRun:
    stdout: str
    returncode: int
    marks: tuple[tuple[str, int], ...]  # (tag, instructions executed before this mark)
    total: int  # instructions executed in the whole run (harness code left out)
    # marks and function entries ("@name") in the order they ran
    stream: tuple[tuple[str, int], ...] = ()

    def intervals(self) -> list[tuple[str, str, int]]:
        """(tag, next tag, instructions between them) for each pair of consecutive marks."""
        pairs = zip(self.marks, self.marks[1:], strict=False)
        return [(a, b, nb - na) for (a, na), (b, nb) in pairs]


def symbols(tools: Toolchain, elf: Path) -> dict[str, int]:
    done = subprocess.run([str(tools.nm), str(elf)], capture_output=True, text=True, check=True)
    table = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            table[parts[2]] = int(parts[0], 16)
    return table


def qemu_command(
    tools: Toolchain, elf: Path, counts: Path, functions: tuple[str, ...] = ()
) -> list[str]:
    sym = symbols(tools, elf)
    missing = [s for s in ("chip_mark", "_host_start", "_host_end") if s not in sym]
    if missing:
        raise UserError(
            f"{elf.name}: symbols {', '.join(missing)} missing (not linked with semihost.c?)"
        )
    plugin = (
        f"{build_plugin(tools)},out={counts},mark={sym['chip_mark']:#x},"
        f"skip={sym['_host_start']:#x}-{sym['_host_end']:#x}"
    )
    plugin += "".join(f",fn={sym[f]:#x}" for f in functions if f in sym)
    return [str(tools.qemu), *QEMU_ARGS, *QUIET, "-kernel", str(elf), "-plugin", plugin]


def run_program(
    tools: Toolchain, elf: Path, timeout_s: float = 120.0, functions: tuple[str, ...] = ()
) -> ChipRun:
    """Run ELF to its semihosting exit (at most TIMEOUT_S of wall time) and pair the counts."""
    present = tuple(f for f in functions if f in symbols(tools, elf))
    with tempfile.TemporaryDirectory(prefix="cbchip-") as tmp:
        counts = Path(tmp) / "counts.txt"
        cmd = qemu_command(tools, elf, counts, present)
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise UserError(
                f"{elf.name}: still running after {timeout_s:.0f} s under QEMU"
            ) from exc
        lines = counts.read_text().splitlines() if counts.is_file() else []
    if not lines or not lines[-1].startswith("total "):
        raise UserError(
            f"{elf.name}: QEMU ended without the plugin's total: {done.stderr.strip()[-300:]}"
        )
    tags = iter(ln[len(MARK) :] for ln in done.stdout.splitlines() if ln.startswith(MARK))
    stream = []
    for line in lines[:-1]:
        index, count = (int(v) for v in line.split())
        name = next(tags, None) if index == 0 else f"@{present[index - 1]}"
        if name is None:
            raise UserError(f"{elf.name}: more counts than mark lines on stdout")
        stream.append((name, count))
    if next(tags, None) is not None:
        raise UserError(f"{elf.name}: more mark lines on stdout than counts")
    return ChipRun(
        stdout=done.stdout,
        returncode=done.returncode,
        marks=tuple(item for item in stream if not item[0].startswith("@")),
        total=int(lines[-1].split()[1]),
        stream=tuple(stream),
    )
