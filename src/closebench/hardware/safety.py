"""Where load may go: only to the device address written in the lab file, and only if that
address is private (RFC 1918) or link-local and sits in the capture interface's own subnet.

Why so strict: the load generator opens connections as fast as a profile says; pointed at a
typo'd public address it would be an unsolicited flood. Requiring the address to be on the
wired side of the lab's own access point keeps every packet inside the lab. A load worker on
another host (`closebench load-worker`) has no lab file: it loads only the address it was
started with, and only a lab or benchmarking address (check_worker_device).
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from closebench.errors import UserError, where
from closebench.hardware.lab import Board, Lab

# RFC 1918 plus IPv4 link-local (RFC 3927). Not `ip.is_private`: that also admits ranges such
# as 198.18.0.0/15 or 100.64.0.0/10 that are not a lab LAN.
ALLOWED_NETS = tuple(
    ipaddress.IPv4Network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")
)

# A lab LAN (as the lab file's device address must be), or the benchmarking range RFC 2544
# reserves (198.18.0.0/15), which the emulated bench uses and where the tests run workers.
WORKER_TARGET_NETS = (*ALLOWED_NETS, ipaddress.IPv4Network("198.18.0.0/15"))

IfaceReader = Callable[[str], Sequence[ipaddress.IPv4Interface]]


@dataclass(frozen=True)
class LoadTarget:
    """The only place load, readiness probes and capture filters may point at."""

    address: str
    http_port: int
    interface: str
    subnet: str  # "" when not checked (a dry run where a check would refuse)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.http_port}/"

    @property
    def capture_filter(self) -> str:
        return f"host {self.address} and tcp port {self.http_port}"


def read_interface_addresses(ifname: str) -> list[ipaddress.IPv4Interface]:
    """IPv4 addresses of `ifname` from `ip -j addr` (iproute2's JSON output)."""
    try:
        proc = subprocess.run(
            ["ip", "-j", "addr", "show", "dev", ifname],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except FileNotFoundError:
        raise UserError("`ip` (iproute2) not found: needed to read the capture interface") from None
    if proc.returncode != 0:
        raise UserError(f"capture interface {ifname!r} not found ({proc.stderr.strip()})")
    out: list[ipaddress.IPv4Interface] = []
    for link in json.loads(proc.stdout or "[]"):
        for info in link.get("addr_info", []):
            if info.get("family") == "inet":
                out.append(ipaddress.IPv4Interface(f"{info['local']}/{info['prefixlen']}"))
    return out


def _ipv4(lab: Lab, field: str, value: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise UserError(f"{where(lab.file, field)}: not an IPv4 address: {value!r}") from None


def check_load_target(lab: Lab, read_addrs: IfaceReader | None = None) -> LoadTarget:
    """Refuse any device address that is not private/link-local inside the capture subnet."""
    dev = lab.device
    addr = _ipv4(lab, "device.address", dev.address)
    gateway = _ipv4(lab, "device.gateway", dev.gateway)
    try:
        net = ipaddress.IPv4Network(f"{addr}/{dev.netmask}", strict=False)
    except ValueError:
        raise UserError(f"{where(lab.file, 'device.netmask')}: invalid {dev.netmask!r}") from None
    if not any(addr in allowed for allowed in ALLOWED_NETS):
        raise UserError(
            f"{where(lab.file, 'device.address')}: {addr} is not a private (RFC 1918) or "
            "link-local address; refusing to send load to it"
        )
    if addr in (net.network_address, net.broadcast_address):
        raise UserError(f"{where(lab.file, 'device.address')}: {addr} is not a host address")
    if gateway not in net or gateway == addr:
        raise UserError(f"{where(lab.file, 'device.gateway')}: {gateway} is not a host in {net}")
    # Looked up at call time so tests can substitute the module-level reader.
    iface_addrs = list((read_addrs or read_interface_addresses)(lab.capture_interface))
    if not iface_addrs:
        raise UserError(
            f"{where(lab.file, 'lab.capture_interface')}: {lab.capture_interface} has no IPv4 "
            "address; connect it to the access point's LAN side first"
        )
    for iface in iface_addrs:
        if addr == iface.ip:
            raise UserError(
                f"{where(lab.file, 'device.address')}: {addr} is the capture host's own address"
            )
    for iface in iface_addrs:
        if addr in iface.network:
            return LoadTarget(str(addr), dev.http_port, lab.capture_interface, str(iface.network))
    nets = ", ".join(str(i.network) for i in iface_addrs)
    raise UserError(
        f"{where(lab.file, 'device.address')}: {addr} is outside the subnet(s) of "
        f"{lab.capture_interface} ({nets}); refusing to send load off the lab LAN"
    )


def dry_run_checks(
    lab: Lab, board: Board, read_addrs: IfaceReader | None = None
) -> tuple[LoadTarget, list[str]]:
    """The load target and what a real flash would refuse, without stopping at the first.

    `--dry-run` prints the whole plan on a machine without the lab (no capture interface,
    board unplugged); each check that would refuse becomes one "would refuse: ..." line."""
    refusals: list[str] = []
    try:
        target = check_load_target(lab, read_addrs)
    except UserError as exc:
        refusals.append(str(exc))
        dev = lab.device
        target = LoadTarget(dev.address, dev.http_port, lab.capture_interface, "")
    if not os.path.exists(board.port):  # existence only: a dry run opens no port
        refusals.append(
            f"board {board.name}: serial port {board.port} not found (is the board plugged in?)"
        )
    return target, refusals


def check_board_variant(lab: Lab, board: Board, variant_name: str, variant_chip: str) -> None:
    """The lab says which variants a board may run; the chip must match the variant's."""
    if variant_name not in board.variants:
        raise UserError(
            f"{lab.file}: board {board.name!r} may not run variant {variant_name!r} "
            f"(allowed: {', '.join(board.variants)})"
        )
    if board.chip != variant_chip:
        raise UserError(
            f"variant {variant_name!r} is for {variant_chip} but board {board.name!r} is "
            f"{board.chip} ({lab.file})"
        )


def check_worker_device(text: str) -> str:
    """The device address a worker may load: a private, link-local or benchmarking address."""
    try:
        addr = ipaddress.IPv4Address(text)
    except ValueError:
        raise UserError(f"--device {text!r}: not an IPv4 address") from None
    if not any(addr in net for net in WORKER_TARGET_NETS):
        raise UserError(
            f"--device {addr}: not a lab address (RFC 1918, link-local or 198.18.0.0/15); "
            "refusing to send load to it"
        )
    return str(addr)
