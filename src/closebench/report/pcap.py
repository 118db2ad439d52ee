"""Read back packets from a cell's capture: the span of a capture and one connection's packets.

Scapy decodes only the packets inside the wanted time range; the rest are skipped from their
record headers (RawPcapReader), which keeps a capture of many thousand packets fast enough
for a report.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from scapy.config import conf
from scapy.layers.inet import IP, TCP
from scapy.utils import RawPcapWriter

from closebench.capture.linktypes import is_tcp
from closebench.capture.pcapfile import readable_records
from closebench.errors import UserError

FLAG_NAMES = (("S", "SYN"), ("F", "FIN"), ("R", "RST"), ("P", "PSH"), ("A", "ACK"), ("U", "URG"))


@dataclass
class Segment:
    ts: float
    from_client: bool
    flags: str  # Wireshark-style, e.g. "FIN, ACK"
    seq: int  # relative to the sender's ISN when the SYN is in range, else absolute
    ack: int
    length: int


def capture_span(path: Path) -> tuple[float, float, int] | None:
    """(first packet ts, last TCP packet ts, packet count), None for a missing/empty capture.

    The last packet is the last TCP one: the bench's cooldown-end marker (one UDP datagram)
    and ARP are not the stacks talking."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    first = last = None
    count = 0
    try:
        for record in readable_records(path):
            first = record.ts if first is None else first
            if is_tcp(record.linktype, record.data) is not False:  # foreign link: cannot tell
                last = record.ts
            count += 1
    except UserError:  # not a capture at all: nothing to span
        return None
    if first is None or last is None:
        return None
    return first, last, count


def _flags(tcp: TCP) -> str:
    value = str(tcp.flags)
    return ", ".join(name for letter, name in FLAG_NAMES if letter in value)


def _connection_frames(
    path: Path,
    client: tuple[str, int],
    device: tuple[str, int],
    start: float,
    end: float,
    slack_s: float,
) -> Iterator[tuple[float, bytes, int, IP, TCP]]:
    """One connection's frames, in capture order, by 4-tuple and time range."""
    decode = {}
    for record in readable_records(path):
        ts, data, linktype = record.ts, record.data, record.linktype
        if ts < start - slack_s:
            continue
        if ts > end + slack_s:
            break
        cls = decode.setdefault(linktype, conf.l2types.get(linktype))
        if cls is None:
            continue
        pkt = cls(data)
        if IP not in pkt or TCP not in pkt:
            continue
        ip, tcp = pkt[IP], pkt[TCP]
        if ((ip.src, tcp.sport), (ip.dst, tcp.dport)) in ((client, device), (device, client)):
            yield ts, data, linktype, ip, tcp


def connection_segments(
    path: Path,
    *,
    client: tuple[str, int],
    device: tuple[str, int],
    start: float,
    end: float,
    slack_s: float = 0.0005,
) -> list[Segment]:
    """One connection's TCP segments, in capture order, by 4-tuple and time range."""
    out: list[Segment] = []
    isn: dict[bool, int] = {}
    for ts, _data, _lt, ip, tcp in _connection_frames(path, client, device, start, end, slack_s):
        from_client = (ip.src, tcp.sport) == client
        if "S" in str(tcp.flags):
            isn[from_client] = tcp.seq
        payload = len(tcp.payload)
        # Relative numbers like Wireshark's, so the labels stay short and comparable.
        seq = (tcp.seq - isn[from_client]) % 2**32 if from_client in isn else tcp.seq
        peer = not from_client
        ack = (tcp.ack - isn[peer]) % 2**32 if peer in isn and "A" in str(tcp.flags) else tcp.ack
        out.append(Segment(ts, from_client, _flags(tcp), seq, ack, payload))
    return out


def write_excerpt(
    path: Path,
    dest: Path,
    *,
    client: tuple[str, int],
    device: tuple[str, int],
    start: float,
    end: float,
    slack_s: float = 0.0005,
) -> int:
    """Write one connection's frames as a small pcap that opens in Wireshark; returns how many."""
    frames = list(_connection_frames(path, client, device, start, end, slack_s))
    if not frames:
        return 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    with RawPcapWriter(str(tmp), linktype=frames[0][2], nano=True) as writer:
        writer.write_header(None)  # write_packet alone leaves the file header out
        for ts, data, _lt, _ip, _tcp in frames:
            sec = int(ts)
            writer.write_packet(data, sec=sec, usec=round((ts - sec) * 1e9))
    tmp.replace(dest)
    return len(frames)
