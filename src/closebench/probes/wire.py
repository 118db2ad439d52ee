"""The probes' raw Ethernet/TCP endpoint on the client TAP, built on scapy.

Kernel interference: the client namespace's kernel owns 198.18.0.1 and would answer every
segment it has no socket for with a RST (and its RSTs would close the very states we probe).
So the probes speak from an address and MAC the kernel does not hold (198.18.0.10,
02:00:c6:12:00:0a) and answer ARP for it themselves from this L2 socket. The device's frames
to that MAC reach the kernel as PACKET_OTHERHOST, which IPv4 drops before TCP sees them (and
IP forwarding is off in a fresh namespace), so the kernel never sends a RST and no firewall
rule is needed. This was chosen over filtering the kernel's RSTs with nftables because it
needs no rule to set up or tear down and also works for the Linux reference, whose server
kernel sits behind the device link in a second namespace.
"""

from __future__ import annotations

import contextlib
import queue
import select
import threading
import time
from dataclasses import dataclass

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from closebench.bench import netsetup
from closebench.errors import UserError

PROBE_IP = "198.18.0.10"
PROBE_MAC = "02:00:c6:12:00:0a"
BROADCAST = "ff:ff:ff:ff:ff:ff"


@dataclass(frozen=True)
class Seg:
    """One TCP segment the device sent us; t is the kernel receive stamp (CLOCK_REALTIME)."""

    t: float
    sport: int
    dport: int
    flags: str
    seq: int
    ack: int
    win: int
    payload: bytes

    def has(self, flag: str) -> bool:
        return flag in self.flags

    @property
    def seg_len(self) -> int:
        """Sequence space the segment occupies (data + SYN + FIN)."""
        return len(self.payload) + self.has("S") + self.has("F")


def _flags(tcp: TCP) -> str:
    # scapy's str(flags) is e.g. "FA"; keep our own canonical order for the trace.
    value = int(tcp.flags)
    return "".join(
        c for bit, c in ((1, "F"), (2, "S"), (4, "R"), (8, "P"), (16, "A")) if value & bit
    )


class Wire:
    """The probe's half of the bench link: send crafted segments, collect the device's."""

    def __init__(
        self, iface: str = netsetup.CLIENT_TAP, device_ip: str = netsetup.DEVICE_IP, port: int = 80
    ) -> None:
        from scapy.config import conf

        netsetup.check_bench_address(PROBE_IP)
        netsetup.check_bench_address(device_ip)
        self.iface = iface
        self.device_ip = device_ip
        self.port = port
        self.device_mac: str | None = None
        self.t0 = time.time()
        self.trace: list[str] = []
        self.sent = 0
        self._queues: dict[int, queue.Queue[Seg]] = {}
        self._lock = threading.Lock()
        self._mac_known = threading.Event()
        self._stop = threading.Event()
        # promisc off: a TAP hands every frame to packet sockets anyway.
        self.sock = conf.L2socket(iface=iface, promisc=False)
        self._thread = threading.Thread(target=self._receive, name="wire-rx", daemon=True)
        self._thread.start()

    # -- receiving -------------------------------------------------------------------------

    def _receive(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.1)
            if not ready:
                continue
            try:
                pkt = self.sock.recv()
            except OSError:
                return
            if pkt is None or pkt.src == PROBE_MAC:
                continue
            if ARP in pkt:
                self._on_arp(pkt)
            elif IP in pkt and TCP in pkt and pkt[IP].dst == PROBE_IP:
                self._on_tcp(pkt)

    def _on_arp(self, pkt: Ether) -> None:
        arp = pkt[ARP]
        if arp.psrc == self.device_ip and not self._mac_known.is_set():
            self.device_mac = arp.hwsrc
            self._mac_known.set()
        if arp.op == 1 and arp.pdst == PROBE_IP:  # who-has our address: we are the host
            reply = Ether(src=PROBE_MAC, dst=arp.hwsrc) / ARP(
                op=2, hwsrc=PROBE_MAC, psrc=PROBE_IP, hwdst=arp.hwsrc, pdst=arp.psrc
            )
            self.sock.send(reply)

    def _on_tcp(self, pkt: Ether) -> None:
        tcp = pkt[TCP]
        if pkt[IP].src != self.device_ip or tcp.sport != self.port:
            return
        seg = Seg(
            t=float(pkt.time),
            sport=tcp.sport,
            dport=tcp.dport,
            flags=_flags(tcp),
            seq=tcp.seq,
            ack=tcp.ack,
            win=tcp.window,
            payload=bytes(tcp.payload),
        )
        self._log(seg.t, "<", seg.dport, seg.flags, seg.seq, seg.ack, len(seg.payload))
        q = self._queues.get(seg.dport)
        if q is not None:
            q.put(seg)

    def _log(
        self, t: float, arrow: str, port: int, flags: str, seq: int, ack: int, length: int
    ) -> None:
        line = f"{t - self.t0:9.3f} {arrow} :{port} {flags:<5} seq={seq} ack={ack} len={length}"
        with self._lock:
            self.trace.append(line)

    # -- sending ---------------------------------------------------------------------------

    def resolve(self, timeout: float = 5.0) -> str:
        """ARP for the device (this also teaches it our MAC)."""
        deadline = time.monotonic() + timeout
        while not self._mac_known.is_set() and time.monotonic() < deadline:
            self.sock.send(
                Ether(src=PROBE_MAC, dst=BROADCAST)
                / ARP(op=1, hwsrc=PROBE_MAC, psrc=PROBE_IP, pdst=self.device_ip)
            )
            self._mac_known.wait(0.5)
        if not self.device_mac:
            raise UserError(f"the device at {self.device_ip} did not answer ARP on {self.iface}")
        return self.device_mac

    def register(self, sport: int) -> queue.Queue[Seg]:
        q: queue.Queue[Seg] = queue.Queue()
        self._queues[sport] = q
        return q

    def send(
        self, sport: int, flags: str, seq: int, ack: int = 0, data: bytes = b"", win: int = 65535
    ) -> float:
        """One segment to the device; returns the wall time just before it left."""
        if self.device_mac is None:
            self.resolve()
        frame = (
            Ether(src=PROBE_MAC, dst=self.device_mac)
            / IP(src=PROBE_IP, dst=self.device_ip, ttl=64)
            / TCP(
                sport=sport,
                dport=self.port,
                flags=flags,
                seq=seq % 2**32,
                ack=(ack % 2**32) if "A" in flags else 0,
                window=win,
            )
        )
        if data:
            frame = frame / Raw(data)
        now = time.time()
        self.sock.send(frame)
        self.sent += 1
        self._log(now, ">", sport, flags, seq % 2**32, ack % 2**32, len(data))
        return now

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1.0)
        with contextlib.suppress(OSError):
            self.sock.close()
