"""The lx106 tools: Debian's cross compiler, picolibc and QEMU's xtensa system emulator."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from closebench.errors import UserError

CROSS_GCC = "xtensa-lx106-elf-gcc"
CROSS_NM = "xtensa-lx106-elf-nm"
QEMU = "qemu-system-xtensa"
HOST_GCC = "gcc"
# Debian packages, as ./dev installs them.
PACKAGES = "gcc-xtensa-lx106 binutils-xtensa-lx106 picolibc-xtensa-lx106-elf qemu-system-misc"


@dataclass(frozen=True)
class Toolchain:
    gcc: Path
    nm: Path
    qemu: Path
    host_gcc: Path
    picolibc_specs: Path


def _specs_next_to(gcc: Path) -> Path:
    """picolibc's specs file: <prefix>/lib/xtensa-lx106-elf/picolibc.specs for <prefix>/bin/gcc.

    `--specs=picolibc.specs` alone does not find it (GCC searches its own library folders).
    """
    return gcc.resolve().parent.parent / "lib" / "xtensa-lx106-elf" / "picolibc.specs"


def missing_tools() -> str:
    """Empty when everything is here; else one line naming what is missing."""
    absent = [t for t in (CROSS_GCC, CROSS_NM, QEMU, HOST_GCC) if shutil.which(t) is None]
    gcc = shutil.which(CROSS_GCC)
    if gcc and not _specs_next_to(Path(gcc)).is_file():
        absent.append("picolibc.specs (picolibc-xtensa-lx106-elf)")
    if not absent:
        return ""
    return f"{', '.join(absent)} not found; install {PACKAGES} (./dev does)"


def find_toolchain() -> Toolchain:
    why = missing_tools()
    if why:
        raise UserError(why)
    found = {t: Path(str(shutil.which(t))) for t in (CROSS_GCC, CROSS_NM, QEMU, HOST_GCC)}
    return Toolchain(
        gcc=found[CROSS_GCC],
        nm=found[CROSS_NM],
        qemu=found[QEMU],
        host_gcc=found[HOST_GCC],
        picolibc_specs=_specs_next_to(found[CROSS_GCC]),
    )
