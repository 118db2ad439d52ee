"""Interfaces and addresses inside the bench's namespaces (iproute2, every failure named).

Addresses come from 198.18.0.0/15 (RFC 2544 benchmarking range) and never leave the
namespaces the run itself created.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from collections.abc import Sequence

from closebench.errors import UserError

BENCH_NET = ipaddress.ip_network("198.18.0.0/15")
CLIENT_IP = "198.18.0.1"
DEVICE_IP = "198.18.0.2"
PREFIX = 24
CLIENT_TAP = "cb0"
DEVICE_TAP = "cbd0"  # Linux reference: the TAP inside the reference server's namespace
DEVICE_MAC = "02:00:c6:12:00:02"


def check_bench_address(addr: str) -> None:
    """Refuse to aim anything at an address outside the benchmarking range."""
    if ipaddress.ip_address(addr) not in BENCH_NET:
        raise UserError(f"refusing address {addr}: the emulated bench only uses 198.18.0.0/15")


def sh(argv: Sequence[str], *, prefix: Sequence[str] = ()) -> str:
    """Run one command; on failure raise naming the command and its stderr."""
    cmd = [*prefix, *argv]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        msg = (res.stderr or res.stdout).strip().splitlines()
        raise UserError(f"`{' '.join(cmd)}` failed: {msg[-1] if msg else res.returncode}")
    return res.stdout


def bind_tun() -> None:
    """Rootless: put the user's TUN node where cbdev and `ip tuntap` look for it."""
    node = os.environ.get("CLOSEBENCH_BIND_TUN")
    if node:
        sh(["mount", "--bind", node, "/dev/net/tun"])


def quiet_namespace(prefix: Sequence[str] = ()) -> None:
    """lo up, IPv6 off before any TAP exists (router solicitations would add noise)."""
    sh(["ip", "link", "set", "lo", "up"], prefix=prefix)
    for key in ("all", "default"):
        sh(["sysctl", "-q", "-w", f"net.ipv6.conf.{key}.disable_ipv6=1"], prefix=prefix)


def add_tap(name: str, addr: str, *, prefix: Sequence[str] = ()) -> None:
    """A persistent TAP the device process attaches to; it dies with its namespace."""
    check_bench_address(addr)
    sh(["ip", "tuntap", "add", "dev", name, "mode", "tap"], prefix=prefix)
    sh(["ip", "addr", "add", f"{addr}/{PREFIX}", "dev", name], prefix=prefix)
    sh(["ip", "link", "set", name, "up"], prefix=prefix)


def nsenter(netns_path: str) -> list[str]:
    return ["nsenter", f"--net={netns_path}"]
