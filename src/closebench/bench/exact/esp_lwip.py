"""Exact-source build of esp-lwip (Espressif's lwIP fork, as ESP-IDF pins it) for the host.

The esp-lwip core (NO_SYS, raw API, IPv4) is compiled with the bench's lwIP side (stack.c,
httpd.c, arch/cc.h), the shared host side and a small hooks file of ours. ESP-IDF keeps its
lwipopts.h in espressif/esp-idf (not in the esp-lwip tree), so the generated lwipopts.h is
the bench's (render_lwipopts) fed with the variant's options plus the settings of IDF's port
lwipopts.h that matter to a NO_SYS TCP build (IDF_PORT below); the variant's options win.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from closebench.bench.device_build import (
    BINARY,
    CFLAGS,
    LWIP_FILES,
    link_binary,
    require_gcc,
)
from closebench.bench.lwipopts import OptionValue, render_lwipopts
from closebench.errors import UserError
from closebench.paths import device_source_dir

REPO = "espressif/esp-lwip"
FAMILY = "esp-lwip"
# MicroPython's esp32 firmware: the same esp-lwip, linked with MicroPython's memp_malloc wrapper
# (micropython/micropython@f498a16c7db6d4b2de200b3e0856528dfe0613c3, tag v1.25.0,
# ports/esp32/esp32_common.cmake: "-Wl,--wrap=memp_malloc", "-Wl,--wrap=memp_free"); ours is
# firmware_variants/device/exact/esp-lwip/micropython/tcp_pcb_cap.c.
FAMILY_MICROPYTHON = "esp-lwip-micropython"
MICROPYTHON_LINK = ("-Wl,--wrap=memp_malloc", "-Wl,--wrap=memp_free")
# The wrapper counts heap-allocated PCBs: IDF's port lwipopts.h (v5.2.2 as v5.3)
# "#define MEMP_MEM_MALLOC                 1". The variant's approximation sets 0 (pools make the
# cap there), so the MicroPython build puts IDF's value back after the variant's options.
MICROPYTHON_FORCED: dict[str, OptionValue] = {"MEMP_MEM_MALLOC": 1}
# ESP32 is a 32-bit target: -m32 keeps pointer and struct sizes (heap per PCB) ESP32-like.
EXTRA_CFLAGS = ("-m32",)
HOOKS_HEADER = "esp_idf_hooks.h"

# IDF v5.3 port settings (espressif/esp-idf@e0991facf5ecb362af6aac1fae972139eb38d2e4, tag v5.3:
# components/lwip/port/include/lwipopts.h, with the defaults of components/lwip/Kconfig there)
# that change what the esp-lwip core compiles or how TCP/ARP behave. Options the bench needs
# (NO_SYS, no DHCP/DNS/IGMP/sockets, stats on) are REQUIRED in lwipopts.py and stay as they are.
IDF_PORT: dict[str, OptionValue] = {
    # "#define ESP_LWIP                        1": turns on esp-lwip's own patches (no RTO
    # doubling in SYN_RCVD in tcp_slowtmr, OOSEQ FIN/SYN trimming fixes in tcp_receive).
    "ESP_LWIP": 1,
    # "#define ESP_LWIP_ARP                    1": a full ARP queue drops the new packet
    # (ERR_MEM) instead of the oldest one (etharp_query).
    "ESP_LWIP_ARP": 1,
    # "#define ARP_QUEUEING                    1" (upstream default 0).
    "ARP_QUEUEING": 1,
    # CONFIG_LWIP_TIMERS_ONDEMAND (default y) -> "#define ESP_LWIP_..._TIMERS_ONDEMAND 1";
    # only the IP reassembly switch is reachable here (IGMP, DHCP, DNS, MLD6 are off).
    "ESP_LWIP_IGMP_TIMERS_ONDEMAND": 1,
    "ESP_LWIP_MLD6_TIMERS_ONDEMAND": 1,
    "ESP_LWIP_DHCP_FINE_TIMERS_ONDEMAND": 1,
    "ESP_LWIP_DNS_TIMERS_ONDEMAND": 1,
    # CONFIG_LWIP_IP4_REASSEMBLY (default n) -> "#define IP_REASSEMBLY 0" (upstream default 1);
    # CONFIG_LWIP_IP4_FRAG (default y) -> "#define IP_FRAG 1".
    "IP_REASSEMBLY": 0,
    "IP_FRAG": 1,
    # "#define IP_REASS_MAXAGE                 3" (only with reassembly; kept for completeness).
    "IP_REASS_MAXAGE": 3,
    # CONFIG_LWIP_IPV4_NAPT (default n) -> "#define IP_NAPT 0".
    "IP_NAPT": 0,
    # "#define MEM_ALIGNMENT                   4" (ESP32; the host default would be 8).
    "MEM_ALIGNMENT": 4,
    # "#define LWIP_TCP_RTO_TIME             CONFIG_LWIP_TCP_RTO_TIME"; Kconfig default 1500
    # with CONFIG_LWIP_TCP_HIGH_SPEED_RETRANSMISSION (default y). esp-lwip tcp_alloc():
    # "pcb->rto = LWIP_TCP_RTO_TIME / TCP_SLOW_INTERVAL;".
    "LWIP_TCP_RTO_TIME": 1500,
    # "#define TCP_TMR_INTERVAL                CONFIG_LWIP_TCP_TMR_INTERVAL", default 250.
    "TCP_TMR_INTERVAL": 250,
    # "#define TCP_FIN_WAIT_TIMEOUT            CONFIG_LWIP_TCP_FIN_WAIT_TIMEOUT", default 20000
    # (esp-lwip 9bad641b made it overridable in tcp_priv.h).
    "TCP_FIN_WAIT_TIMEOUT": 20000,
    # "#define TCP_OOSEQ_MAX_PBUFS CONFIG_LWIP_TCP_OOSEQ_MAX_PBUFS" (default 4) and
    # "#define TCP_OOSEQ_TIMEOUT CONFIG_LWIP_TCP_OOSEQ_TIMEOUT" (default 6), both under
    # "#if TCP_QUEUE_OOSEQ"; esp-lwip 4a8286ab made TCP_OOSEQ_TIMEOUT overridable.
    "TCP_OOSEQ_MAX_PBUFS": 4,
    "TCP_OOSEQ_TIMEOUT": 6,
    # "#define LWIP_NETIF_TX_SINGLE_PBUF       1".
    "LWIP_NETIF_TX_SINGLE_PBUF": 1,
    # "#define LWIP_SO_LINGER 0" unless CONFIG_LWIP_SO_LINGER (default n): esp-lwip's
    # TCP_POLL_LINGERING_CLOSE in tcp_in.c compiles to nothing, as on the device.
    "LWIP_SO_LINGER": 0,
    # "#define LWIP_HOOK_FILENAME \"lwip_default_hooks.h\"": ours holds the TCP ISN hook
    # (CONFIG_LWIP_HOOK_TCP_ISN_DEFAULT); see firmware_variants/device/exact/esp-lwip/.
    "LWIP_HOOK_FILENAME": f'"{HOOKS_HEADER}"',
}


def _own_dir() -> Path:
    return device_source_dir() / "exact" / FAMILY


def _source_root(trees: Mapping[str, Path]) -> Path:
    if REPO not in trees:
        raise UserError(f"{FAMILY} build needs the {REPO} source tree (got: {', '.join(trees)})")
    src = trees[REPO] / "src"
    if not (src / "include" / "lwip" / "init.h").is_file():
        raise UserError(f"{trees[REPO]}: no src/include/lwip/init.h; not an lwIP source tree")
    return src


def _core_files(src: Path, log: Callable[[str], None]) -> list[Path]:
    """The approximation build's core list, as far as this tree has those files."""
    files = [src / rel for rel in LWIP_FILES]
    missing = [f.relative_to(src).as_posix() for f in files if not f.is_file()]
    if missing:
        log(f"{FAMILY}: not in this tree, skipped: {', '.join(missing)}")
    return [f for f in files if f.is_file()]


def compile_command(
    src: Path, out_dir: Path, binary: Path, *, micropython: bool = False
) -> list[str]:
    dev = device_source_dir()
    own = _own_dir()
    extra = sorted((own / "micropython").glob("*.c")) if micropython else []
    return [
        "gcc",
        *CFLAGS,
        *EXTRA_CFLAGS,
        f"-I{out_dir}",
        f"-I{own}",
        f"-I{dev}",
        f"-I{src / 'include'}",
        *(str(p) for p in _core_files(src, lambda _msg: None)),
        *(str(p) for p in sorted(dev.glob("*.c"))),
        *(str(p) for p in sorted(own.glob("*.c"))),
        *(str(p) for p in extra),
        *(MICROPYTHON_LINK if micropython else ()),
        "-o",
        str(binary),
    ]


def build(
    trees: Mapping[str, Path],
    out_dir: Path,
    options: Mapping[str, int | str | bool],
    log: Callable[[str], None],
    *,
    micropython: bool = False,
) -> Path:
    """Compile cbdev from esp-lwip; return the path of the binary inside out_dir."""
    require_gcc("gcc-multilib")
    src = _source_root(trees)
    _core_files(src, log)
    opts: dict[str, OptionValue] = {**IDF_PORT, **options}  # the variant's options win
    if micropython:
        opts.update(MICROPYTHON_FORCED)
    (out_dir / "lwipopts.h").write_text(render_lwipopts(opts))
    tmp_bin = out_dir / (BINARY + ".tmp")
    cmd = compile_command(src, out_dir, tmp_bin, micropython=micropython)
    family = FAMILY_MICROPYTHON if micropython else FAMILY
    return link_binary(cmd, out_dir, f" ({family})", log)


def build_micropython(
    trees: Mapping[str, Path],
    out_dir: Path,
    options: Mapping[str, int | str | bool],
    log: Callable[[str], None],
) -> Path:
    """esp-lwip as MicroPython's esp32 port links it (the 12-PCB memp_malloc wrapper)."""
    return build(trees, out_dir, options, log, micropython=True)


BUILDERS: dict[str, Callable[..., Path]] = {FAMILY: build, FAMILY_MICROPYTHON: build_micropython}
