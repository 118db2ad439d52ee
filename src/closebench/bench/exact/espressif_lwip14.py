"""Exact-source build of Espressif's lwIP 1.4.0rc2 fork (ESP8266 NONOS SDK era) for the host.

The fork's own core, IPv4 and etharp (and, for the espconn family, its espconn) are compiled
with the fork's own lwipopts.h and arch/cc.h, a stand-in for the closed SDK blob
(firmware_variants/device/exact/espressif-lwip14/: stub SDK headers, sdk_host.c, stack14.c) and
the shared host side. Two families:

- "espressif-lwip14-espconn": espconn from the tree plus app_espconn.c, which makes the espconn
  calls NodeMCU's net module makes for an HTTP server (nodemcu-2016).
- "espressif-lwip14": the bench's httpd.c on the raw TCP API with its --close modes (firmwares
  whose app talks to raw lwIP: MicroPython esp8266, NodeMCU 3.0's net module).

Everything is built with -m32: the fork's arch/cc.h has "typedef unsigned long u32_t" (64-bit on
x86-64) and espconn passes heap pointers through 32-bit ets_post parameters.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from closebench.bench.device_build import BINARY
from closebench.errors import UserError
from closebench.paths import device_source_dir

FAMILY_RAW = "espressif-lwip14"
FAMILY_ESPCONN = "espressif-lwip14-espconn"
SHIM_DIR = "exact/espressif-lwip14"
HOST_FILES = ("main.c", "tap.c", "link.c", "pcap.c", "timeline.c")
SHIM_FILES = ("sdk_host.c", "stack14.c")
# espconn and what it needs (espconn.c calls into the TCP, UDP and mDNS parts).
ESPCONN_FILES = ("app/espconn.c", "app/espconn_tcp.c", "app/espconn_udp.c", "app/espconn_mdns.c")
COMMON_CFLAGS = ("-m32", "-O2", "-fno-strict-aliasing")
TREE_CFLAGS = ("-std=gnu99", "-w")  # third-party code: its warnings are not ours to fix
OWN_CFLAGS = ("-std=gnu99", "-Wall", "-Werror=implicit-function-declaration")
HOST_CFLAGS = ("-std=gnu11", "-Wall", "-Werror=implicit-function-declaration")
# SDK 2.x heap calls carry allocation-site arguments; the shim's mem.h follows the tree.
SITE_ARGS_MARK = "void *pvPortMalloc (size_t sz, const char *, unsigned, bool);"
# esp-open-lwip Makefile.open OBJS (what esp-open-sdk builds into liblwip_open.a), without
# lwip/app/dhcpserver.o (softAP DHCP server; sdk_host.c stubs its timer) and espconn_dummy.o.
_OPEN_CORE = ("def", "dhcp", "dns", "init", "mem", "memp", "netif", "pbuf", "raw", "sntp", "stats")
_OPEN_CORE2 = ("sys_arch", "sys", "tcp", "tcp_in", "tcp_out", "timers", "udp")
_OPEN_IPV4 = ("autoip", "icmp", "igmp", "inet", "inet_chksum", "ip_addr", "ip", "ip_frag")
_OPEN_MEMCPY = ("-DMEMCPY=memcpy", "-DSMEMCPY=memcpy")
OPEN_LWIP_FILES = (
    *(f"core/{n}.c" for n in (*_OPEN_CORE, *_OPEN_CORE2)),
    *(f"core/ipv4/{n}.c" for n in _OPEN_IPV4),
    "netif/etharp.c",
)


@dataclass(frozen=True)
class Layout:
    """Where one repository keeps the fork, and how the firmware compiles it."""

    repo: str
    lwip: str  # folder holding core/, netif/, app/
    include: str  # folder holding lwipopts.h, lwip/, arch/, netif/
    files: tuple[str, ...] | None  # None: every *.c of core/ and core/ipv4/ + netif/etharp.c
    defines: tuple[str, ...]


LAYOUTS = (
    # NodeMCU's app/lwip/*/Makefile builds every *.c of its folder (the SDK makefile wildcard).
    # Defines: @98d3b46 app/Makefile CONFIGURATION_DEFINES "-DLWIP_OPEN_SRC -DPBUF_RSV_FOR_WLAN
    # -DEBUF_LWIP"; @4b92eab app/Makefile "CONFIGURATION_DEFINES += -DLWIP_OPEN_SRC" and
    # app/lwip/Makefile "CONFIGURATION_DEFINES += -DPBUF_RSV_FOR_WLAN -DEBUF_LWIP".
    Layout(
        "nodemcu/nodemcu-firmware",
        "app/lwip",
        "app/include",
        None,
        ("-DLWIP_OPEN_SRC", "-DPBUF_RSV_FOR_WLAN", "-DEBUF_LWIP"),
    ),
    # pfalcon/esp-open-lwip@8c39d21 Makefile.open: "DEFS = -DLWIP_OPEN_SRC -DPBUF_RSV_FOR_WLAN
    # -DEBUF_LWIP -DICACHE_FLASH -DMEMCPY=memcpy -DSMEMCPY=memcpy".
    Layout(
        "pfalcon/esp-open-lwip",
        "lwip",
        "include",
        OPEN_LWIP_FILES,
        ("-DLWIP_OPEN_SRC", "-DPBUF_RSV_FOR_WLAN", "-DEBUF_LWIP", *_OPEN_MEMCPY),
    ),
)


def _find_tree(trees: Mapping[str, Path]) -> tuple[Layout, Path]:
    for layout in LAYOUTS:
        root = trees.get(layout.repo)
        if root is not None and (root / layout.lwip / "core" / "tcp.c").is_file():
            return layout, root
    known = ", ".join(f"{lay.repo} ({lay.lwip}/core/tcp.c)" for lay in LAYOUTS)
    raise UserError(f"Espressif lwIP 1.4 fork not found in the source trees; expected {known}")


def _tree_sources(layout: Layout, lwip: Path, espconn: bool) -> list[Path]:
    if layout.files is None:
        files = [f for d in ("core", "core/ipv4") for f in sorted((lwip / d).glob("*.c"))]
        files.append(lwip / "netif/etharp.c")
    else:
        files = [lwip / f for f in layout.files]
    if espconn:
        files += [lwip / f for f in ESPCONN_FILES]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise UserError(f"fork source file missing: {missing[0]}")
    return files


def _first_error(text: str) -> str:
    for line in text.splitlines():
        if "error" in line:
            return line.strip()
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no output"


class _Compiler:
    """Runs gcc, appending every command and its output to build.log."""

    def __init__(self, out_dir: Path) -> None:
        self.log_path = out_dir / "build.log"
        self.log_path.write_text("")

    def run(self, cmd: Sequence[str]) -> None:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
        with self.log_path.open("a") as log:
            log.write(" ".join(cmd) + "\n" + proc.stdout + proc.stderr + "\n")
        if proc.returncode != 0:
            raise UserError(
                f"exact build failed: {_first_error(proc.stderr)} (full log: {self.log_path})"
            )


def _lwip_side_flags(defines: Sequence[str], include: Path, shim: Path, dev: Path) -> list[str]:
    # Order matters: the fork's include folder comes before the device folder, so
    # "arch/cc.h" is the fork's, never the bench's lwIP 2.x one.
    mem_h = include / "lwip" / "mem.h"
    site_args = mem_h.is_file() and SITE_ARGS_MARK in mem_h.read_text(errors="replace")
    return [
        *COMMON_CFLAGS,
        "-include",
        str(shim / "force.h"),
        *defines,
        *(["-DCB_SDK_HEAP_SITE_ARGS"] if site_args else []),
        f"-I{include}",
        f"-I{shim / 'sdk'}",
        f"-I{shim}",
        f"-I{dev}",
    ]


def _jobs(
    tree: list[Path],
    own: list[Path],
    app: tuple[Path, list[str]],
    base: list[str],
    dev: Path,
) -> list[list[str]]:
    cmds = [["gcc", *base, *TREE_CFLAGS, "-c", str(f)] for f in tree]
    cmds += [["gcc", *base, *OWN_CFLAGS, "-c", str(f)] for f in own]
    app_src, app_flags = app
    cmds.append(["gcc", *base, *OWN_CFLAGS, *app_flags, "-c", str(app_src)])
    cmds += [
        ["gcc", *COMMON_CFLAGS, *HOST_CFLAGS, f"-I{dev}", "-c", str(dev / f)] for f in HOST_FILES
    ]
    return cmds


def _build(
    trees: Mapping[str, Path],
    out_dir: Path,
    log: Callable[[str], None],
    *,
    espconn: bool,
) -> Path:
    if shutil.which("gcc") is None:
        raise UserError("gcc not found; install gcc and gcc-multilib to build the device")
    layout, root = _find_tree(trees)
    dev = device_source_dir()
    shim = dev / SHIM_DIR
    include = root / layout.include
    tree = _tree_sources(layout, root / layout.lwip, espconn)
    own = [shim / f for f in SHIM_FILES]
    if espconn:
        app: tuple[Path, list[str]] = (shim / "app_espconn.c", [])
    else:  # httpd.c is written for lwIP 2.x; a force-included compat header bridges 1.4
        app = (dev / "httpd.c", ["-include", str(shim / "httpd_compat.h")])
    obj_dir = out_dir / "obj"
    obj_dir.mkdir(parents=True, exist_ok=True)
    base = _lwip_side_flags(layout.defines, include, shim, dev)
    cmds = _jobs(tree, own, app, base, dev)
    objs: list[str] = []
    for i, cmd in enumerate(cmds):
        obj = obj_dir / f"{i:03d}-{Path(cmd[-1]).stem}.o"
        cmd += ["-o", str(obj)]
        objs.append(str(obj))
    compiler = _Compiler(out_dir)
    family = FAMILY_ESPCONN if espconn else FAMILY_RAW
    log(f"building {BINARY} ({family}, {layout.repo}, {len(tree)} fork files, -m32) in {out_dir}")
    with ThreadPoolExecutor(max_workers=2) as pool:  # the machine is shared: at most 2 jobs
        list(pool.map(compiler.run, cmds))
    tmp_bin = out_dir / (BINARY + ".tmp")
    compiler.run(["gcc", "-m32", *objs, "-o", str(tmp_bin)])
    binary = out_dir / BINARY
    tmp_bin.replace(binary)
    return binary


def _ignore_options(options: Mapping[str, int | str | bool], log: Callable[[str], None]) -> None:
    # The fork has its own lwipopts.h (and lwip_init() sets the runtime tunables): it wins.
    if options:
        log(f"exact build: the fork's own lwipopts.h wins; ignoring {len(options)} variant options")


def build_raw(
    trees: Mapping[str, Path],
    out_dir: Path,
    options: Mapping[str, int | str | bool],
    log: Callable[[str], None],
) -> Path:
    """The fork's lwIP with the bench's raw-API httpd.c (its --close modes)."""
    _ignore_options(options, log)
    return _build(trees, out_dir, log, espconn=False)


def build_espconn(
    trees: Mapping[str, Path],
    out_dir: Path,
    options: Mapping[str, int | str | bool],
    log: Callable[[str], None],
) -> Path:
    """The fork's lwIP and espconn with NodeMCU's net-module call sequence (app_espconn.c)."""
    _ignore_options(options, log)
    return _build(trees, out_dir, log, espconn=True)


BUILDERS: dict[str, Callable[..., Path]] = {FAMILY_RAW: build_raw, FAMILY_ESPCONN: build_espconn}
