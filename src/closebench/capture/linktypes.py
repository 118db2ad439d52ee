"""The one link-type table: which captures closebench reads, and where their IP header is.

The numpy decoder (headers.py) applies these rules to whole chunks; `ip_layer` and `tcp_of`
apply the same rules to one frame, for the counts and the report's excerpts.
"""

from __future__ import annotations

import struct
from pathlib import Path

from closebench.errors import UserError

LINK_NULL = 0  # BSD loopback, family in host (little-endian here) order
LINK_ETHERNET = 1
LINK_LOOP = 108  # OpenBSD loopback, family in network order
LINK_SLL = 113
LINK_SLL2 = 276
LINK_RAW = (101, 12, 14, 228, 229)  # raw IP (228: IPv4 only, 229: IPv6 only)
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x0800, 0x86DD
LOOPBACK_IPV6_FAMILIES = (24, 28, 30)  # AF_INET6 on the BSDs and macOS
SUPPORTED_LINKTYPES = frozenset(
    {LINK_NULL, LINK_ETHERNET, LINK_LOOP, LINK_SLL, LINK_SLL2, *LINK_RAW}
)
TCP_PROTO = 6
GRE_PROTO = 47
# GRE payload types we look into: ERSPAN II and III (a mirrored Ethernet frame behind an 8-
# or 12-byte ERSPAN header), transparent Ethernet bridging, IPv4, IPv6.
GRE_MIRROR_HEADER = {0x88BE: 8, 0x22EB: 12}
GRE_KNOWN_TYPES = (0x88BE, 0x22EB, 0x6558, ETHERTYPE_IPV4, ETHERTYPE_IPV6)

# Names for the usual link types, ours and foreign (pcap-linktype(7)).
LINKTYPE_NAMES = {
    0: "NULL",
    1: "ETHERNET",
    9: "PPP",
    101: "RAW",
    105: "IEEE802_11",
    108: "LOOP",
    113: "LINUX_SLL",
    127: "IEEE802_11_RADIOTAP",
    147: "USER0",
    187: "BLUETOOTH_HCI_H4",
    192: "PPI",
    195: "IEEE802_15_4_WITHFCS",
    201: "BLUETOOTH_HCI_H4_WITH_PHDR",
    220: "USB_LINUX_MMAPPED",
    228: "IPV4",
    229: "IPV6",
    249: "USBPCAP",
    253: "NETLINK",
    276: "LINUX_SLL2",
}


def linktype_name(linktype: int) -> str:
    name = LINKTYPE_NAMES.get(linktype)
    return f"{linktype} ({name})" if name else str(linktype)


def unsupported_linktype(path: Path, linktype: int) -> UserError:
    return UserError(
        f"{path}: link type {linktype_name(linktype)} is not supported "
        "(Ethernet, Linux cooked, raw IP and loopback captures are)"
    )


def ip_layer(linktype: int, frame: bytes) -> tuple[int, int] | None:
    """(IP version 4 or 6, offset of the IP header) of one frame, or None when it carries no
    IP or the link type is not ours; the same rules as headers._link_layer."""
    if linktype == LINK_ETHERNET:
        if len(frame) < 14:
            return None
        etype, l3 = struct.unpack_from("!H", frame, 12)[0], 14
        for _ in range(2):  # up to two stacked VLAN tags (802.1Q / QinQ)
            if etype in VLAN_TPIDS and len(frame) >= l3 + 4:
                etype, l3 = struct.unpack_from("!H", frame, l3 + 2)[0], l3 + 4
    elif linktype == LINK_SLL:
        etype, l3 = (struct.unpack_from("!H", frame, 14)[0] if len(frame) >= 16 else 0), 16
    elif linktype == LINK_SLL2:
        etype, l3 = (struct.unpack_from("!H", frame, 0)[0] if len(frame) >= 2 else 0), 20
    elif linktype in (LINK_NULL, LINK_LOOP):
        if len(frame) < 4:
            return None
        # the address family: bytes 0-1 little-endian (NULL), bytes 2-3 big-endian (LOOP)
        null = linktype == LINK_NULL
        family = struct.unpack_from("<H" if null else "!H", frame, 0 if null else 2)[0]
        etype = 0
        if family == 2:
            etype = ETHERTYPE_IPV4
        elif family in LOOPBACK_IPV6_FAMILIES:
            etype = ETHERTYPE_IPV6
        l3 = 4
    elif linktype in LINK_RAW:
        nibble = frame[0] >> 4 if frame else 0
        etype, l3 = {4: ETHERTYPE_IPV4, 6: ETHERTYPE_IPV6}.get(nibble, 0), 0
    else:
        return None
    version = {ETHERTYPE_IPV4: 4, ETHERTYPE_IPV6: 6}.get(etype)
    if version is None or len(frame) <= l3 or frame[l3] >> 4 != version:
        return None
    return version, l3


def tcp_of(linktype: int, frame: bytes, depth: int = 0) -> tuple[bytes, bytes, bytes] | None:
    """(source address, destination address, TCP header and payload) of a TCP frame over IPv4
    or IPv6 (TCP right after the fixed IPv6 header), also inside GRE and ERSPAN mirrors as
    tshark shows them (two levels, like headers._gre_inner), else None."""
    layer = ip_layer(linktype, frame)
    if layer is None:
        return None
    version, l3 = layer
    ip = frame[l3:]
    if version == 4:
        if len(ip) < 20:
            return None
        payload = ip[(ip[0] & 0x0F) * 4 :]
        if ip[9] == GRE_PROTO and depth < 2:
            inner = gre_inner(payload)
            return tcp_of(*inner, depth + 1) if inner else None
        return (ip[12:16], ip[16:20], payload) if ip[9] == TCP_PROTO else None
    if len(ip) < 40 or ip[6] != TCP_PROTO:
        return None
    return ip[8:24], ip[24:40], ip[40:]


def gre_inner(gre: bytes) -> tuple[int, bytes] | None:
    """(link type, frame) carried by a GRE packet: IP, Ethernet, or an ERSPAN II/III mirror."""
    if len(gre) < 4:
        return None
    flags, ptype = struct.unpack_from("!HH", gre, 0)
    if ptype not in GRE_KNOWN_TYPES:
        return None
    start = 4 + 4 * bool(flags & 0x8000) + 4 * bool(flags & 0x2000) + 4 * bool(flags & 0x1000)
    start += GRE_MIRROR_HEADER.get(ptype, 0)
    link = LINK_RAW[0] if ptype in (ETHERTYPE_IPV4, ETHERTYPE_IPV6) else LINK_ETHERNET
    return link, gre[start:]


def is_tcp(linktype: int, frame: bytes) -> bool | None:
    """True for a TCP frame, False for another one, None when the link type is not ours."""
    if linktype not in SUPPORTED_LINKTYPES:
        return None
    return tcp_of(linktype, frame) is not None
