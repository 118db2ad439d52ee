"""Capture header versions: read what libpcap reads, refuse the rest in one line.

The oracles are the tools themselves on the same bytes: `tcpdump -r` (libpcap) for classic
pcap (tshark is laxer there: it reads a version 99.4 header), and tshark and tcpdump for
pcapng section headers, first and later sections.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import PcapNgWriter

from closebench.capture.pcapfile import iter_records
from closebench.errors import UserError
from closebench.teardown import analyze_capture

SYN = Ether() / IP(src="198.18.0.1", dst="198.18.0.2") / TCP(sport=40000, dport=80, flags="S")


def _pcap(path: Path, major: int, minor: int, endian: str = "<") -> Path:
    """A classic pcap header of the given version, then one SYN record."""
    frame = bytes(SYN)
    header = struct.pack(endian + "IHHiIII", 0xA1B2C3D4, major, minor, 0, 0, 65535, 1)
    record = struct.pack(endian + "IIII", 1_700_000_000, 0, len(frame), len(frame)) + frame
    path.write_bytes(header + record)
    return path


def _pcapng(path: Path, version: tuple[int, int], section: str) -> Path:
    """Two sections of one SYN each; the first or the later one says `version`."""
    one = path.with_suffix(".one.pcapng")
    with PcapNgWriter(str(one)) as writer:
        writer.write(SYN)
    good = one.read_bytes()
    odd = bytearray(good)
    struct.pack_into("<HH", odd, 12, *version)  # after block type, length, byte-order magic
    path.write_bytes(bytes(odd) + good if section == "first" else good + bytes(odd))
    return path


def _tool_reads(argv: list[str], path: Path) -> bool:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} not installed: no oracle for this header")
    proc = subprocess.run([*argv, str(path)], capture_output=True, text=True, check=False)
    return proc.returncode == 0


def _we_read(path: Path) -> bool:
    try:
        records = list(iter_records(path))
        analyze_capture(path)  # the analyzer's own (chunked) reader, too
    except UserError as exc:
        assert f"{path}: unsupported pcap" in str(exc) and "version" in str(exc), exc
        return False
    assert len(records) >= 1
    return True


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("version", [(2, 4), (2, 0), (2, 3), (2, 5), (3, 0), (1, 0), (99, 4)])
def test_classic_pcap_versions_as_libpcap(tmp_path: Path, version, endian: str) -> None:
    path = _pcap(tmp_path / "v.pcap", *version, endian=endian)
    assert _we_read(path) == _tool_reads(["tcpdump", "-n", "-r"], path), version


@pytest.mark.parametrize("section", ["first", "later"])
@pytest.mark.parametrize("version", [(1, 0), (1, 2), (1, 1), (2, 0), (0, 9), (99, 4)])
def test_pcapng_section_versions_as_tshark(tmp_path: Path, version, section: str) -> None:
    path = _pcapng(tmp_path / "v.pcapng", version, section)
    ours = _we_read(path)
    assert ours == _tool_reads(["tshark", "-n", "-r"], path), (version, section)
    if section == "first":  # libpcap checks minor versions only in the first section
        assert ours == _tool_reads(["tcpdump", "-n", "-r"], path), version


@pytest.mark.parametrize(
    ("name", "make", "needle"),
    [
        ("v99.pcap", lambda p: _pcap(p, 99, 4), "unsupported pcap version 99.4"),
        ("later.pcapng", lambda p: _pcapng(p, (99, 4), "later"), "pcapng version 99.4"),
    ],
)
def test_analyze_refuses_in_one_line_with_nothing_written(
    tmp_path: Path, name: str, make, needle: str
) -> None:
    path = make(tmp_path / name)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "closebench.cli", "analyze", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert proc.stdout == ""  # no partial report
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("closebench: error: "), proc.stderr
    assert str(path) in lines[0] and needle in lines[0], lines[0]
    assert not out.exists() or not any(out.iterdir())
