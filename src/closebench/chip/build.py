"""Build lx106 programs (cross gcc + picolibc, the harness's boot and linker script) and the
instruction-counting QEMU plugin (host gcc), cached by the hash of everything that goes in."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from closebench.chip.toolchain import Toolchain
from closebench.errors import UserError
from closebench.paths import cache_dir, variants_dir

# The flags every ESP8266 firmware of the bench compiles its C with (call0 ABI, literals in
# the text section, as the SDKs' Makefiles pass them); the variant adds its own -O and defines.
LX106_FLAGS = ("-mlongcalls", "-mtext-section-literals", "-ffunction-sections", "-fdata-sections")
BASE_SOURCES = ("start.S", "semihost.c", "rom_arith.c")
LINKER_SCRIPT = "chip.ld"
PLUGIN_SOURCE = "cbcount.c"


def chip_source_dir() -> Path:
    return variants_dir() / "chip"


@dataclass(frozen=True)
class ProgramSpec:
    """One lx106 program: its sources (the harness's base is added), flags and includes."""

    name: str
    sources: tuple[Path, ...]
    cflags: tuple[str, ...] = ("-O2",)
    includes: tuple[Path, ...] = ()
    defines: tuple[str, ...] = ()
    # Sources with their own whole flag list (a firmware's files as its build compiles them):
    # (source, flags); cflags, includes and defines do not apply to these.
    jobs: tuple[tuple[Path, tuple[str, ...]], ...] = ()
    ldflags: tuple[str, ...] = ()


def _digest(parts: Sequence[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def _tree_bytes(folder: Path) -> list[bytes]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".h", ".c", ".S"))
    return [p.as_posix().encode() + b"\0" + p.read_bytes() for p in files]


def _compile(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        errors = [ln for ln in done.stderr.splitlines() if "error" in ln or "undefined" in ln][:4]
        raise UserError(f"{what}: compile failed: {' | '.join(errors) or done.stderr[-300:]}")


def build_plugin(tools: Toolchain) -> Path:
    """cbcount.so, the plugin that counts executed instructions (firmware_variants/chip)."""
    source = chip_source_dir() / PLUGIN_SOURCE
    out = cache_dir() / "chip" / f"cbcount-{_digest([source.read_bytes()])}.so"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        flags = ["-O2", "-shared", "-fPIC", "-fvisibility=hidden", "-Wall"]
        _compile([str(tools.host_gcc), *flags, "-o", str(tmp), str(source)], "cbcount.so")
        tmp.replace(out)
    return out


def _object(tools: Toolchain, name: str, source: Path, flags: list[str], folder: Path) -> Path:
    key = _digest([" ".join(flags).encode(), source.as_posix().encode(), source.read_bytes()])
    obj = folder / f"{source.stem}-{key}.o"
    if not obj.is_file():
        tmp = obj.with_suffix(".tmp.o")
        specs = f"--specs={tools.picolibc_specs}"
        _compile(
            [str(tools.gcc), specs, *flags, "-c", "-o", str(tmp), str(source)],
            f"{name}: {source.name}",
        )
        tmp.replace(obj)
    return obj


def _own_flags(spec: ProgramSpec) -> list[str]:
    inc = [f"-I{p}" for p in (chip_source_dir(), *spec.includes)]
    return [*LX106_FLAGS, *spec.cflags, *inc, *(f"-D{d}" for d in spec.defines)]


def build_program(tools: Toolchain, spec: ProgramSpec) -> Path:
    """The linked ELF for SPEC (objects cached per source and flags; headers in the hash)."""
    base = tuple(chip_source_dir() / s for s in BASE_SOURCES)
    headers = [b for inc in spec.includes for b in _tree_bytes(inc)]
    folder = cache_dir() / "chip" / spec.name / _digest([*headers, *_tree_bytes(chip_source_dir())])
    folder.mkdir(parents=True, exist_ok=True)
    own = _own_flags(spec)
    objects = [_object(tools, spec.name, src, own, folder) for src in (*base, *spec.sources)]
    objects += [
        _object(tools, spec.name, src, [*LX106_FLAGS, *fl], folder) for src, fl in spec.jobs
    ]
    elf = folder / f"{spec.name}.elf"
    tmp = folder / f"{spec.name}.tmp.elf"
    script = chip_source_dir() / LINKER_SCRIPT
    specs = f"--specs={tools.picolibc_specs}"
    # picolibc's integer-only printf: the SDK shim's printf needs no floating point.
    printf = "-DPICOLIBC_INTEGER_PRINTF_SCANF"
    link = [str(tools.gcc), specs, printf, *LX106_FLAGS, "-nostartfiles", "-T", str(script)]
    cmd = [*link, "-Wl,--gc-sections", *spec.ldflags, "-o", str(tmp), *map(str, objects)]
    _compile(cmd, spec.name)
    tmp.replace(elf)
    return elf
