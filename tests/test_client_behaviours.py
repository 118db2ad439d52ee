"""Each named client behaviour against a bench device, checked on the wire with tshark.

The device is nodemcu-2016 built from its own source, serving its default app (the README
server: HTTP/1.0, no Content-Length, a body even for HEAD). Its frames toward the laptop wait
200 ms on the link, so who closes first is decided by the client, not by a race: a client
that closes after the headers sends its FIN before the device's FIN reaches it; one that
reads until the server closes sends it after. The real tools (curl 7.88.1, Python's
http.client, a plain socket script; Debian 12) and the load client's two behaviours run in
the bench's client namespace, and tshark reads the client-side capture.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from benchutil import DEVICE
from conftest import bench_unavailable, leftovers

from closebench.bench import exact_source
from closebench.bench.variant_build import archives_of, resolve
from closebench.load.behaviours import (
    CLOSE_AFTER_HEADERS,
    CLOSE_AFTER_HEADERS_UNREAD,
    READ_UNTIL_CLOSE,
    ClientBehaviour,
)
from closebench.pipeline.session import bring_up
from closebench.variants.manifest import load_variant

LINK = ["--link-in", "delay_ms=0", "--link-out", "delay_ms=200"]
URL = f"http://{DEVICE}/"
LOAD_CLIENT = """
from closebench.load.client import request_once
r = request_once(("{ip}", 80), "HEAD", "/", connect_timeout_s=5, timeout_s=5,
                 until_eof={eof}, headers_only={unread})
assert r.error is None, r.error
"""
HTTP_CLIENT = """
import http.client
c = http.client.HTTPConnection("{ip}", 80, timeout=5)
c.request("HEAD", "/")
r = c.getresponse()
r.read()
c.close()
"""
SOCKET_SCRIPT = """
import socket
s = socket.create_connection(("{ip}", 80), timeout=5)
s.sendall(b"HEAD / HTTP/1.0\\r\\n\\r\\n")
while s.recv(4096):
    pass
s.close()
"""
# name -> (argv in the client namespace, the behaviour it is expected to show)
CLIENTS = {
    "curl -I": (["curl", "-sS", "-I", URL], CLOSE_AFTER_HEADERS),
    "python http.client": ([sys.executable, "-c", HTTP_CLIENT], CLOSE_AFTER_HEADERS),
    "load client close-after-headers": ([sys.executable, "-c", LOAD_CLIENT], CLOSE_AFTER_HEADERS),
    "wget --spider": (["wget", "-q", "--spider", URL], CLOSE_AFTER_HEADERS_UNREAD),
    "load client close-after-headers-unread": (
        [sys.executable, "-c", LOAD_CLIENT],
        CLOSE_AFTER_HEADERS_UNREAD,
    ),
    "socket script": ([sys.executable, "-c", SOCKET_SCRIPT], READ_UNTIL_CLOSE),
    "load client read-until-close": ([sys.executable, "-c", LOAD_CLIENT], READ_UNTIL_CLOSE),
}


def _argv(argv: list[str], behaviour: ClientBehaviour) -> list[str]:
    if argv[0] != sys.executable:
        return argv
    eof, unread = behaviour is READ_UNTIL_CLOSE, behaviour is CLOSE_AFTER_HEADERS_UNREAD
    return [argv[0], "-c", textwrap.dedent(argv[2]).format(ip=DEVICE, eof=eof, unread=unread)]


# What each behaviour shows on the wire: who ends the connection first, and how.
EXPECTED = {
    CLOSE_AFTER_HEADERS.name: ("client", "FIN"),
    CLOSE_AFTER_HEADERS_UNREAD.name: ("client", "RST"),  # the README body left unread
    READ_UNTIL_CLOSE.name: ("device", "FIN"),
}


def _skip_reason() -> str | None:
    variant = load_variant("nodemcu-2016")
    assert variant.source is not None
    gone = exact_source.missing(archives_of(variant.source))
    if gone:
        return f"source archive {gone[0].filename} not present (see `closebench sources list`)"
    for tool in ("curl", "tshark"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install {tool})"
    return bench_unavailable()


def _closes(pcap: Path) -> list[tuple[str, str]]:
    """Per connection in capture order (tshark's tcp.stream): the side that sent the first
    FIN or RST, and which of the two it was."""
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-Y", "tcp", "-T", "fields", "-e", "tcp.stream", "-e",
         "ip.src", "-e", "tcp.flags.fin", "-e", "tcp.flags.reset"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    first: dict[int, tuple[str, str]] = {}
    for line in out.splitlines():
        stream, src, fin, rst = line.split("\t")
        side = "device" if src == DEVICE else "client"
        if int(stream) not in first and (rst in ("1", "True") or fin in ("1", "True")):
            first[int(stream)] = (side, "RST" if rst in ("1", "True") else "FIN")
    return [first[k] for k in sorted(first)]


@pytest.mark.netns
@pytest.mark.slow
def test_each_client_behaviour_on_the_wire(bench: Path) -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    variant, build = resolve(load_variant("nodemcu-2016"), "exact", log=lambda _m: None)
    assert variant.app == "readme" and "--app" in variant.device_args()
    box = bring_up(kind="lwip", lwip="2.1.3", options={}, device_args=variant.device_args(),
                   link_args=LINK, cell_dir=bench / "cell", duration_s=120,
                   log=lambda _m: None, binary=build.path)  # fmt: skip
    try:
        for name, (argv, behaviour) in CLIENTS.items():  # one connection each, in this order
            res = subprocess.run([*box.enter_cmd(), *_argv(argv, behaviour)], capture_output=True,
                                 text=True, timeout=60, check=False)  # fmt: skip
            assert res.returncode == 0, (name, res.stderr)
            if name == "curl -I":
                assert "HTTP/1.0 200 OK" in res.stdout  # the README server's status line
    finally:
        box.stop()  # flushes the captures
    conns = _closes(bench / "cell" / "capture-client.pcap")
    assert len(conns) == len(CLIENTS)
    for seen, (name, (_, behaviour)) in zip(conns, CLIENTS.items(), strict=True):
        assert seen == EXPECTED[behaviour.name], (name, behaviour.name, seen)
    assert not leftovers(str(bench))
