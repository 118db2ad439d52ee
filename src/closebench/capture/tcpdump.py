"""Packet capture with tcpdump, and fast counts over the pcap files it writes.

tcpdump, not scapy's live sniffer: at ~100 k packets/s tcpdump kept every packet where
scapy's AsyncSniffer kept 5-7 % and slowed the load (bench-findings.md). Every figure is
re-derived from the capture later, so a capture must be complete and say when it is not:
stop() returns tcpdump's own counts of captured and dropped packets.

Usage (stop() waits DRAIN_S before SIGTERM, or packets still in the kernel's current
block are lost uncounted; stop(drain_s=0) when the cooldown already waited ~2 s):

    with Tcpdump("tap0", cell / "capture-client.pcap", netns_cmd=ns, log=cell / "tcpdump.log"):
        ... load ...
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from closebench.capture.linktypes import tcp_of
from closebench.capture.pcapfile import Record, readable_records
from closebench.errors import UserError

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 15.0
DRAIN_S = 1.2
_STATS = {
    "packets": re.compile(r"(\d+) packets? captured"),
    "received_by_filter": re.compile(r"(\d+) packets? received by filter"),
    "dropped_kernel": re.compile(r"(\d+) packets? dropped by kernel"),
    "dropped_ifc": re.compile(r"(\d+) packets? dropped by interface"),
}


class Tcpdump:
    """tcpdump writing every packet of one interface to a pcap file, as a context manager."""

    def __init__(
        self,
        interface: str,
        out: Path,
        *,
        netns_cmd: Sequence[str] = (),
        snaplen: int = 0,
        buffer_kib: int = 16384,
        log: Path | None = None,
        bpf_filter: str = "",
        packet_buffered: bool = True,
    ) -> None:
        self.interface = interface
        self.out = Path(out)
        self.netns_cmd = list(netns_cmd)
        self.snaplen = snaplen
        self.buffer_kib = buffer_kib
        self.log = Path(log) if log else None
        self.bpf_filter = bpf_filter
        self.packet_buffered = packet_buffered
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._log_path: Path | None = None
        self.stats: dict[str, int | None] | None = None

    def command(self) -> list[str]:
        tcpdump = shutil.which("tcpdump") or "tcpdump"
        argv = [
            *self.netns_cmd,
            tcpdump,
            "-i",
            self.interface,
            "-w",
            str(self.out),
            "-n",
            "-B",
            str(self.buffer_kib),
            "-s",
            str(self.snaplen),
            # Stay root: tcpdump otherwise switches to its own user before opening the
            # output file, which then fails in root-owned run directories.
            "-Z",
            "root",
        ]
        if self.packet_buffered:
            # -U: write each buffer as it arrives, so the file on disk trails the wire by
            # milliseconds and a killed tcpdump loses little.
            argv.append("-U")
        if self.bpf_filter:
            argv.append(self.bpf_filter)
        return argv

    TOOL = "tcpdump"
    PACKAGE = "tcpdump"
    READY = "listening on"

    def start(self) -> None:
        """Start the capturer and return once it is really capturing (its READY line)."""
        if self.proc is not None:
            raise RuntimeError(f"{self.TOOL} already started")
        if shutil.which(self.TOOL) is None:
            raise UserError(f"{self.TOOL} not found: install it (apt-get install {self.PACKAGE})")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        if self.log is not None:
            self._log_path = self.log
        else:
            fd, name = tempfile.mkstemp(prefix="closebench-tcpdump-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        self._log_file = self._log_path.open("wb")
        try:
            # Own session: a Ctrl-C meant for the bench must not stop the capture before
            # the bench has stopped the load; stop() ends tcpdump explicitly.
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=self._log_file,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            self._close_log()
            raise UserError(
                f"cannot run {exc.filename}: install it (apt-get install {self.PACKAGE})"
            ) from None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = self._log_text()
            if self.READY in text:
                return
            if self.proc.poll() is not None:
                self.proc = None
                self._close_log()
                raise UserError(f"{self.TOOL} on {self.interface} failed: {_last_line(text)}")
            time.sleep(0.02)
        self._kill()
        raise UserError(
            f"{self.TOOL} on {self.interface} did not start capturing within {START_TIMEOUT_S:g} s"
        )

    def stop(self, drain_s: float = DRAIN_S) -> dict[str, int | None]:
        """Stop tcpdump (SIGTERM; it ignores SIGINT from scripts) and return its counts.

        drain_s: wait this long first. The kernel hands packets to tcpdump in blocks, retired
        when full or after tcpdump's 1 s timeout; packets in a block not yet retired at
        SIGTERM are lost *without* being counted as dropped (measured: 22 % of a short burst
        on lo). Pass 0 only when the last packet of interest is over ~1.2 s old already.
        (--immediate-mode avoids the blocks but made the kernel drop 70 % of a burst.)

        Keys: packets, received_by_filter, dropped_kernel, dropped_ifc. A count tcpdump did
        not print is None (e.g. it had to be killed), so the capture is not called complete.
        """
        if self.stats is not None:
            return self.stats
        if self.proc is None:
            raise RuntimeError("Tcpdump not started")
        if drain_s > 0 and self.proc.poll() is None:
            time.sleep(drain_s)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._kill()
        self.proc = None
        text = self._log_text()
        self._close_log()
        self.stats = self.parse(text)
        if self.stats["dropped_ifc"] is None and self.stats["packets"] is not None:
            # tcpdump prints "dropped by interface" only where the platform reports it.
            self.stats["dropped_ifc"] = 0
        return self.stats

    @staticmethod
    def parse(text: str) -> dict[str, int | None]:
        return parse_stats(text)

    def __enter__(self) -> Tcpdump:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is not None:
            # On an exception the packets are evidence too: drain as usual.
            self.stop()

    def _log_text(self) -> str:
        assert self._log_path is not None
        try:
            return self._log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.log is None and self._log_path is not None:
            # A temporary log: keep it only while it is needed for parsing.
            self._log_path.unlink(missing_ok=True)


class Dumpcap(Tcpdump):
    """Wireshark's dumpcap, for the rootless bench: inside a user namespace tcpdump cannot
    run as root (its -Z root calls initgroups, which a user namespace refuses: measured
    here), while dumpcap never changes user. Same interface and counts as Tcpdump."""

    TOOL = "dumpcap"
    PACKAGE = "tshark"
    READY = "Capturing on"
    # dumpcap prints READY before its capture child has the socket open: seen once in CI,
    # a capture of 0 packets while the device answered. Give it time before any traffic.
    SETTLE_S = 0.5

    def start(self) -> None:
        super().start()
        time.sleep(self.SETTLE_S)

    def command(self) -> list[str]:
        argv = [
            *self.netns_cmd,
            shutil.which("dumpcap") or "dumpcap",
            "-i",
            self.interface,
            "-w",
            str(self.out),
            "-P",
            "-B",
            str(max(1, self.buffer_kib // 1024)),
        ]
        if self.snaplen:
            argv += ["-s", str(self.snaplen)]
        if self.bpf_filter:
            argv += ["-f", self.bpf_filter]
        return argv

    @staticmethod
    def parse(text: str) -> dict[str, int | None]:
        captured = re.search(r"Packets captured: (\d+)", text)
        line = re.search(
            r"received/dropped on interface '[^']*': (\d+)/(\d+) "
            r"\(pcap:(\d+)/dumpcap:(\d+)/flushed:(\d+)/ps_ifdrop:(\d+)\)",
            text,
        )
        if not captured or not line:
            return dict.fromkeys(_STATS, None)
        received, _dropped, pcap, dumpcap, flushed, ifdrop = map(int, line.groups())
        return {
            "packets": int(captured.group(1)),
            "received_by_filter": received,
            "dropped_kernel": pcap + dumpcap + flushed,
            "dropped_ifc": ifdrop,
        }


def in_user_namespace() -> bool:
    """True inside a user namespace (the initial one maps every uid: `0 0 4294967295`)."""
    try:
        return Path("/proc/self/uid_map").read_text().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


def capturer(interface: str, out: Path, **kwargs: object) -> Tcpdump:
    """tcpdump where it can run as root; dumpcap inside a user namespace (rootless bench)."""
    cls = Dumpcap if in_user_namespace() else Tcpdump
    return cls(interface, out, **kwargs)  # type: ignore[arg-type]


def parse_stats(text: str) -> dict[str, int | None]:
    """tcpdump's closing summary -> counts; a missing line is None."""
    stats: dict[str, int | None] = {}
    for key, pattern in _STATS.items():
        match = pattern.search(text)
        stats[key] = int(match.group(1)) if match else None
    return stats


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "exited without a message"


# --- counts over the files it writes ------------------------------------------------------


def count_packets(pcap: Path) -> int:
    """Number of complete records in a capture: a cross-check against tcpdump's own count."""
    return sum(1 for _ in readable_records(pcap))


def _first_syn(record: Record) -> tuple[bytes, int, bytes, int, int] | None:
    """(src ip, src port, dst ip, dst port, seq) of a SYN without ACK or RST, else None."""
    tcp = tcp_of(record.linktype, record.data)
    if tcp is None or len(tcp[2]) < 14:
        return None
    src, dst, header = tcp
    sport, dport, seq = struct.unpack("!HHI", header[:8])
    flags = header[13]
    if flags & 0x02 and not flags & 0x10 and not flags & 0x04:
        return src, sport, dst, dport, seq
    return None


def count_first_syns(pcap: Path, server_port: int = 80) -> int:
    """Connections the clients opened: SYNs to server_port, retransmissions not counted.

    A retransmitted SYN repeats the 4-tuple and the initial sequence number; a new
    connection on a reused port has a new ISN, so it counts again.
    """
    seen: set[tuple[bytes, int, bytes, int, int]] = set()
    for record in readable_records(pcap):
        syn = _first_syn(record)
        if syn is not None and syn[3] == server_port:
            seen.add(syn)
    return len(seen)
