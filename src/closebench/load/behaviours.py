"""The load client's close behaviours: each a real HTTP client of 2016, checked on the wire.

The 2016 post says only that the laptop would "open a new TCP connection ..., send the HTTP
operation, wait for the response, and then close". How a client knows the response is over
decides who closes first, so the study measures each way real clients do it, by name. A
profile picks one with `client_close` (benchmarks/profiles/*.toml); the table below says
which real tools behave so. tests/test_client_behaviours.py runs those tools in the bench's
client namespace against a device and compares their packets with the load client's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClientBehaviour:
    name: str  # as the study and the report name it
    client_close: str  # the profile's client_close value that makes the load client do it
    does: str
    clients: tuple[str, ...]  # real clients that do the same on the wire (tool, version, how)


# Checked against the Debian 12 packages in tests/test_client_behaviours.py.
CLOSE_AFTER_HEADERS = ClientBehaviour(
    name="close-after-headers",
    client_close="after_response",
    does="HEAD-aware: a HEAD response has no body (RFC 9112 6.3), so the client closes once "
    "the headers are in, whatever follows; it reads in large chunks, so body bytes that came "
    "in the same segment are read (and dropped) and close() sends FIN",
    clients=(
        "curl -I (curl 7.88.1, Debian 12): FIN right after the README server's one segment",
        "Python http.client HEAD (CPython 3.11: HTTPResponse.begin sets length 0 for HEAD; "
        "read() returns b'' and closes; its buffered reader takes the whole segment): FIN",
    ),
)
CLOSE_AFTER_HEADERS_UNREAD = ClientBehaviour(
    name="close-after-headers-unread",
    client_close="after_headers_unread",
    does="HEAD-aware, taking exactly the header bytes from the kernel: a body that follows "
    "(the README server sends one even for HEAD) stays unread, and Linux's tcp_close() then "
    "sends RST instead of FIN (net/ipv4/tcp.c: 'if (data_was_unread) { ... tcp_send_active_"
    "reset'); a FIN that arrives later is answered with RST too (the socket is gone)",
    clients=(
        "wget --spider (GNU Wget 1.21.3, Debian 12; sends HEAD): RST, ACK right after the "
        "README server's segment, as tests/test_client_behaviours.py shows on the wire",
    ),
)
READ_UNTIL_CLOSE = ClientBehaviour(
    name="read-until-close",
    client_close="after_eof",
    does="reads until the server closes (recv returns 0), then closes: the server is always "
    "the first closer, and nothing is left unread",
    clients=("a plain socket script: sendall(request); while sock.recv(n): pass; close()",),
)
BEHAVIOURS = {
    b.name: b for b in (CLOSE_AFTER_HEADERS, CLOSE_AFTER_HEADERS_UNREAD, READ_UNTIL_CLOSE)
}


def behaviour_of(client_close: str) -> ClientBehaviour:
    """The named behaviour a profile's client_close value is."""
    for behaviour in BEHAVIOURS.values():
        if behaviour.client_close == client_close:
            return behaviour
    raise KeyError(client_close)
