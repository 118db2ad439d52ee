"""Which frames the emulated link dropped, by position, read from a cell's two captures.

The link (firmware_variants/device/link.c) draws the same three random values for every frame
it is handed, in order, per direction: the k-th frame of a direction is lost iff the k-th draw
says so, whatever the frames are. So with one seed the *positions* of the lost frames are the
same in every run, even when timing makes the frames themselves differ.

Both captures hold whole Ethernet frames, byte for byte as the link passed them: the client's
(sent towards the device, before the link; received from it, after) and the device's (received
after the link; sent before it). A frame the sender's capture holds and the receiver's lacks
was lost on the link.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path

from closebench.bench.netsetup import DEVICE_IP
from closebench.capture.pcapfile import iter_records

DEVICE = ipaddress.IPv4Address(DEVICE_IP).packed


def _frames(pcap: Path) -> list[bytes]:
    return [r.data for r in iter_records(pcap)]


def _device_mac(frames: list[bytes]) -> bytes:
    for frame in frames:  # the source MAC of an IPv4 frame sent from the device's address
        if frame[12:14] == b"\x08\x00" and frame[26:30] == DEVICE:
            return frame[6:12]
    raise AssertionError("no frame from the device in the capture")


def _lost_positions(sent: list[bytes], received: list[bytes]) -> list[int]:
    left = Counter(received)
    lost = []
    for k, frame in enumerate(sent):
        if left[frame]:
            left[frame] -= 1
        else:
            lost.append(k)
    return lost


def lost_positions(cell: Path) -> dict[str, tuple[int, list[int]]]:
    """Per direction: (frames the sender handed to the link, positions of the lost ones)."""
    client = _frames(cell / "capture-client.pcap")
    device = _frames(cell / "capture-device.pcap")
    mac = _device_mac(client)
    to_device = [f for f in client if f[6:12] != mac]
    to_client = [f for f in device if f[6:12] == mac]
    return {
        "to_device": (len(to_device), _lost_positions(to_device, device)),
        "to_client": (len(to_client), _lost_positions(to_client, client)),
    }
