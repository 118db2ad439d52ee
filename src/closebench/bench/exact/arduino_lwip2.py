"""Exact-source build of the Arduino ESP8266 core's lwIP2 for the host.

Arduino's lwIP is upstream lwIP (STABLE-2_1_2 / 2_1_3) patched and configured by the "lwip2
builder", d-a-v/esp82xx-nonos-linklayer. This module does what the builder's makefile does to
the lwIP tree (apply its `patches/*.patch` in glob order with `patch -p1`), then compiles the
patched core (core/*.c, core/ipv4/*.c, netif/ethernet.c, as its makefiles/Makefile.lwip2 globs
them) with the builder's own glue-lwip/arduino/lwipopts.h, the bench's lwIP side (stack.c,
httpd.c, arch/cc.h) and the shared host side. Our few host headers and stubs live in
firmware_variants/device/exact/arduino-lwip2/ (lwipopts.h there wraps the glue's file and
says why each host setting is forced).

Not compiled, because they only move frames and calls between lwIP and the SDK's binary Wi-Fi
layer, which the bench's TAP netif replaces: glue-esp/lwip-esp.c, glue-lwip/lwip-git.c and
the glue's espconn/dhcpserver/ping files. The TIME_WAIT cap is the glue's time-wait.patch and
TCP_TW_LIMIT macro themselves (the bench passes --tw-cap 0).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from closebench.bench.device_build import BINARY, CFLAGS, first_errors, link_binary, require_gcc
from closebench.errors import UserError
from closebench.paths import device_source_dir

FAMILY = "arduino-lwip2"
LWIP_REPO = "lwip-tcpip/lwip"
GLUE_REPO = "d-a-v/esp82xx-nonos-linklayer"

# ESP8266 is 32-bit: -m32 keeps pointer and struct sizes (heap per PCB) ESP-like.
# -fcommon: the glue's glue/gluedebug.h at 92add50 defines `void (*phy_capture)(...)` in a
# header (a tentative definition in every lwIP file); gcc >= 10 refuses that without it.
EXTRA_CFLAGS = ("-m32", "-fcommon")

# Build-flag inputs of the builder (makefiles/Makefile.defs: "-DTCP_MSS=$(TCP_MSS)
# -DLWIP_FEATURES=$(LWIP_FEATURES) -DLWIP_IPV6=$(LWIP_IPV6)"), one lwIP library per menu
# entry. Defaults: the core's default menu entry, esp8266/Arduino boards.txt "ip=lm2f"
# ("v2 Lower Memory": -DTCP_MSS=536 -DLWIP_FEATURES=1 -DLWIP_IPV6=0). A variant's options of
# the same names win. Every other option is the glue's lwipopts.h's business.
BUILD_FLAGS: dict[str, int] = {"TCP_MSS": 536, "LWIP_FEATURES": 1, "LWIP_IPV6": 0}
# Makefile.defs also passes -DARDUINO=1 ("-D$(DEFINE_TARGET)=1"); in what is compiled here only
# glue/gluedebug.h reads it. __ets__, ICACHE_FLASH, LWIP_OPEN_SRC, LWIP_BUILD,
# USE_OPTIMIZE_PRINTF and TARGET are read only by SDK headers and the glue's arch/cc.h.
FIXED_DEFINES = ("-DARDUINO=1",)

# The makefile line that patches the lwIP tree: at 92add50 in makefiles/Makefile.lwip2, from
# 2021 on in makefiles/Makefile.patches; both run from lwip2-src/src:
#   for p in ../../patches/*.patch; do ...; patch -d .. -p1 < $$p; done
# (patches/open/*.patch only for target=open, never for Arduino).
RECIPE_FILES = ("makefiles/Makefile.patches", "makefiles/Makefile.lwip2")
RECIPE = re.compile(r"for p in \.\./\.\./patches/\*\.patch; do .*patch -d \.\. -p1 < \$\$p; done")

# lwIP files the builder's Makefile.lwip2 globs that matter here (core/ipv6, api and apps
# compile to nothing or are not used with LWIP_IPV6 0, NO_SYS 1 and the bench's app).
SOURCE_GLOBS = ("core/*.c", "core/ipv4/*.c", "netif/ethernet.c")


def _own_dir() -> Path:
    return device_source_dir() / "exact" / FAMILY


def patch_order(glue_root: Path) -> list[Path]:
    """The glue's patches in the order its makefile applies them.

    The recipe globs `../../patches/*.patch` in /bin/sh: regular top-level files ending in
    `.patch`, not hidden ones (so `*.patch.disabled`, `*.patch.history` and `patches/open/`
    stay out), sorted. The shell sorts by the locale's collation; for the builder's file
    names that equals byte order (checked at 92add50 and 8e3c4ee: digits, then lower-case
    names, `napt-h` before `napt.`), which is what is used here.
    """
    folder = glue_root / "patches"
    if not folder.is_dir():
        raise UserError(f"{glue_root}: no patches/ folder; not the lwip2 builder's tree")
    found = [
        p
        for p in folder.iterdir()
        if p.name.endswith(".patch") and not p.name.startswith(".") and p.is_file()
    ]
    return sorted(found, key=lambda p: p.name.encode())


def check_recipe(glue_root: Path) -> str:
    """The makefile that holds the patch loop patch_order() reproduces, or a UserError."""
    for rel in RECIPE_FILES:
        path = glue_root / rel
        if path.is_file() and RECIPE.search(path.read_text(errors="replace")):
            return rel
    raise UserError(
        f"{glue_root}: none of {', '.join(RECIPE_FILES)} applies patches with "
        f"'for p in ../../patches/*.patch; ... patch -d .. -p1'; the builder changed, "
        f"check the patch order before building"
    )


def _patch_failure(output: str) -> str:
    keys = ("FAILED", "can't find file", "Reversed", "Skipping", "malformed", "Only garbage")
    for line in output.splitlines():
        if any(k in line for k in keys):
            return line.strip()
    return first_errors(output, limit=1)


def apply_patches(lwip_copy: Path, patches: list[Path], log: Callable[[str], None]) -> None:
    """Apply each patch to lwip_copy as the makefile does: `patch -d <lwip> -p1 < patch`.

    --forward --batch only stop patch from asking questions (it would on a tree that does not
    match: reversed or missing files); a clean apply is the same as the makefile's. Fuzz and
    offsets are accepted as the makefile accepts them, and logged.
    """
    if shutil.which("patch") is None:
        raise UserError(
            "patch not found; install it (apt-get install patch) to build arduino-lwip2"
        )
    env = {**os.environ, "LC_ALL": "C"}
    for path in patches:
        cmd = ["patch", "-d", str(lwip_copy), "-p1", "--forward", "--batch"]
        with path.open("rb") as stdin:
            proc = subprocess.run(cmd, stdin=stdin, capture_output=True, text=True, env=env)
        output = proc.stdout + proc.stderr
        log(f"--------- APPLY PATCH {path.name}:")
        for line in output.splitlines():
            log(f"  {line}")
        if proc.returncode != 0:
            raise UserError(
                f"glue patch {path.name} does not apply to {lwip_copy} (patch -p1): "
                f"{_patch_failure(output)}"
            )


def _trees(trees: Mapping[str, Path]) -> tuple[Path, Path]:
    for repo in (LWIP_REPO, GLUE_REPO):
        if repo not in trees:
            raise UserError(
                f"{FAMILY} build needs the {repo} source tree (got: {', '.join(trees)})"
            )
    lwip, glue = trees[LWIP_REPO], trees[GLUE_REPO]
    if not (lwip / "src" / "include" / "lwip" / "init.h").is_file():
        raise UserError(f"{lwip}: no src/include/lwip/init.h; not an lwIP source tree")
    if not (glue / "glue-lwip" / "arduino" / "lwipopts.h").is_file():
        raise UserError(f"{glue}: no glue-lwip/arduino/lwipopts.h; not the lwip2 builder's tree")
    return lwip, glue


def _build_flags(options: Mapping[str, int | str | bool], log: Callable[[str], None]) -> list[str]:
    values = {name: options.get(name, default) for name, default in BUILD_FLAGS.items()}
    if str(values["LWIP_IPV6"]) not in ("0", "False"):
        raise UserError(f"{FAMILY}: LWIP_IPV6 must be 0 (the bench's netif is IPv4 only)")
    ignored = sorted(set(options) - set(BUILD_FLAGS))
    if ignored:
        log(f"{FAMILY}: the glue's lwipopts.h decides, options not used: {', '.join(ignored)}")
    try:
        return [f"-D{name}={int(value)}" for name, value in values.items()]
    except ValueError:
        raise UserError(
            f"{FAMILY}: {', '.join(BUILD_FLAGS)} must be integers, got {values}"
        ) from None


def _copy_lwip(lwip: Path, out_dir: Path) -> Path:
    """A fresh writable copy of the lwIP tree (out_dir may hold a failed earlier attempt)."""
    dest = out_dir / "lwip"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(lwip, dest, symlinks=True)
    return dest


def _write_hash_header(include: Path, lwip: Path, glue: Path) -> None:
    # The builder generates lwip-git-hash.h with `git describe` (makefiles/make-lwip-hash);
    # the glue's lwipopts.h includes it. A string only: the archives' folder names.
    include.mkdir(parents=True, exist_ok=True)
    text = (
        "/* Generated by closebench (exact/arduino_lwip2.py). */\n"
        "#ifndef LWIP_HASH_H\n#define LWIP_HASH_H\n"
        f'#define LWIP_HASH_STR "{lwip.name}/glue:{glue.name}"\n'
        "#endif\n"
    )
    (include / "lwip-git-hash.h").write_text(text)


def source_files(lwip_copy: Path) -> list[Path]:
    src = lwip_copy / "src"
    return [p for pattern in SOURCE_GLOBS for p in sorted(src.glob(pattern))]


def compile_command(
    lwip_copy: Path, glue: Path, include: Path, flags: list[str], binary: Path
) -> list[str]:
    dev = device_source_dir()
    own = _own_dir()
    return [
        "gcc",
        *CFLAGS,
        *EXTRA_CFLAGS,
        *FIXED_DEFINES,
        *flags,
        f"-I{include}",  # generated lwip-git-hash.h
        f"-I{own}",  # our lwipopts.h wrapper and SDK stand-ins
        f"-I{dev}",  # the bench's arch/cc.h, app.h, cbdev.h
        f"-I{glue / 'glue-lwip' / 'arduino'}",  # the glue's lwipopts.h (#include_next)
        f"-I{glue / 'glue'}",  # gluedebug.h
        f"-I{lwip_copy / 'src' / 'include'}",
        *(str(p) for p in source_files(lwip_copy)),
        *(str(p) for p in sorted(dev.glob("*.c"))),
        *(str(p) for p in sorted(own.glob("*.c"))),
        "-o",
        str(binary),
    ]


def prepare(
    trees: Mapping[str, Path],
    out_dir: Path,
    options: Mapping[str, int | str | bool],
    log: Callable[[str], None],
    binary: Path,
) -> list[str]:
    """Patch a copy of lwIP as the lwip2 builder does; the gcc command that builds BINARY.

    closebench.chip reuses the command's flags and sources for the lx106 build.
    """
    lwip, glue = _trees(trees)
    flags = _build_flags(options, log)
    recipe = check_recipe(glue)
    patches = patch_order(glue)
    log(f"{FAMILY}: applying {len(patches)} patches from {recipe}'s loop to a copy of {lwip.name}")
    patch_log: list[str] = []
    patch_log_path = out_dir / "patch.log"
    lwip_copy = _copy_lwip(lwip, out_dir)
    try:
        apply_patches(lwip_copy, patches, patch_log.append)
    except UserError as exc:
        raise UserError(f"{exc} (full log: {patch_log_path})") from None
    finally:
        patch_log_path.write_text("\n".join(patch_log) + "\n")
    include = out_dir / "include"
    _write_hash_header(include, lwip, glue)
    return compile_command(lwip_copy, glue, include, flags, binary)


def build(
    trees: Mapping[str, Path],
    out_dir: Path,
    options: Mapping[str, int | str | bool],
    log: Callable[[str], None],
) -> Path:
    """Patch lwIP as the lwip2 builder does and compile cbdev; return the binary's path."""
    require_gcc("gcc-multilib")
    tmp_bin = out_dir / (BINARY + ".tmp")
    command = prepare(trees, out_dir, options, log, tmp_bin)
    return link_binary(command, out_dir, f" ({FAMILY})", log)


BUILDERS: dict[str, Callable[..., Path]] = {FAMILY: build}
