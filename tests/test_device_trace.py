"""The device program's --trace-tx trace point names the fork's source line behind each packet.

Oracle: tshark's reading of the device capture (every TCP frame the device sent has a trace
row with the same seq, ack and flags), and the fork's own functions for packets whose sender
is not in doubt: the SYN-ACK comes from tcp_listen_input, the RST to a SYN on a closed port
from tcp_rst.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from benchutil import DEVICE
from conftest import bench_unavailable

from closebench.bench import exact_source
from closebench.bench.variant_build import archives_of, resolve
from closebench.pipeline.session import bring_up
from closebench.seed.trace import TRACE_FILE, tx_sources
from closebench.variants.manifest import load_variant

CLOSED_PORT = """
import socket
s = socket.socket()
s.settimeout(5)
try:
    s.connect(("{ip}", 81))
except ConnectionRefusedError:
    pass
"""


def _skip_reason() -> str | None:
    variant = load_variant("nodemcu-2016")
    assert variant.source is not None
    gone = exact_source.missing(archives_of(variant.source))
    if gone:
        return f"source archive {gone[0].filename} not present (see `closebench sources list`)"
    for tool in ("curl", "tshark", "addr2line"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    return bench_unavailable()


def _device_frames(pcap: Path) -> list[tuple[int, int, int, int]]:
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-o", "tcp.relative_sequence_numbers:FALSE", "-Y",
         f"ip.src == {DEVICE} && tcp", "-T", "fields", "-e", "tcp.dstport", "-e", "tcp.seq",
         "-e", "tcp.ack", "-e", "tcp.flags"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return [
        (int(p), int(s), int(a or 0), int(f, 16))
        for p, s, a, f in (line.split("\t") for line in out.splitlines())
    ]


@pytest.mark.netns
@pytest.mark.slow
def test_trace_names_the_sender_of_every_device_packet(bench: Path) -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    variant, build = resolve(load_variant("nodemcu-2016"), "exact", log=lambda _m: None)
    cell = bench / "cell"
    cell.mkdir()
    args = [*variant.device_args(), "--trace-tx", str(cell / TRACE_FILE)]
    box = bring_up(kind="lwip", lwip="2.1.3", options={}, device_args=args, link_args=[],
                   cell_dir=cell, duration_s=60, log=lambda _m: None,
                   binary=build.path)  # fmt: skip
    try:
        for argv in (
            ["curl", "-sS", "-I", f"http://{DEVICE}/"],
            [sys.executable, "-c", textwrap.dedent(CLOSED_PORT).format(ip=DEVICE)],
        ):
            res = subprocess.run([*box.enter_cmd(), *argv], capture_output=True, text=True,
                                 timeout=60, check=False)  # fmt: skip
            assert res.returncode == 0, res.stderr
    finally:
        box.stop()
    spec = {"device": {"binary": str(build.path)}}
    (cell / "cell-spec.json").write_text(json.dumps(spec))
    sources = tx_sources(cell)
    assert sources is not None
    frames = _device_frames(cell / "capture-device.pcap")
    assert frames and sum(len(v) for v in sources.values()) == len(frames)
    for key in frames:
        assert sources.get(key), key  # every packet the device sent is in the trace
    synack = [k for k in frames if k[3] & 0x12 == 0x12]
    rst = [k for k in frames if k[3] & 0x04]
    assert synack and rst
    assert "tcp_listen_input" in sources[synack[0]][0]
    assert sources[rst[0]][0].startswith("tcp_rst (nodemcu/nodemcu-firmware@98d3b46 app/lwip/")
