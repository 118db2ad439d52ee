"""Each variant's distinguishing close behaviour, on the emulated bench, from real captures.

Every test brings the variant up exactly as its manifest says (lwIP release, options, close
mode) and names the citation it checks. The timing behaviours (TIME_WAIT 5 s vs 10 s,
client-first FIN answered with RST or FIN, admission) are checked by the probes' tests.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from benchutil import DEVICE, client, wait_answered
from scapy.all import TCP, rdpcap

from closebench.pipeline.session import bring_up
from closebench.variants.manifest import Variant, load_variant

pytestmark = pytest.mark.netns


def up_variant(variant: Variant, cell: Path):
    return bring_up(
        kind=variant.kind,
        lwip=variant.emulation.lwip or "2.1.3",
        options=variant.emulation.options,
        device_args=variant.device_args(),
        link_args=[],
        cell_dir=cell,
        duration_s=120,
        log=lambda _m: None,
    )


def sequential_heads(box, n: int) -> None:
    client(
        box,
        f"""
        import socket
        for _ in range({n}):
            s = socket.create_connection(("{DEVICE}", 80), timeout=5)
            s.sendall(b"HEAD / HTTP/1.1\\r\\n\\r\\n")
            while s.recv(4096): pass
            s.close()
    """,
    )
    wait_answered(box)  # the device has taken every close: its PCBs are where they stay


def test_esp_idf_5_3_keeps_every_time_wait(bench: Path) -> None:
    variant = load_variant("esp-idf-5.3")
    cite = variant.expect["tw_cap"].cite  # 2.1.3-esp has no PCB cap (esp-idf #9670)
    box = up_variant(variant, bench)
    try:
        sequential_heads(box, 30)
    finally:
        box.stop()
    tl = pd.read_csv(bench / "device.csv")
    assert tl["time_wait"].max() == 30, f"every TIME_WAIT kept ({cite})"


def test_micropython_esp32_never_exceeds_12_pcbs(bench: Path) -> None:
    variant = load_variant("micropython-esp32")
    cap = variant.expect["max_pcbs"]
    box = up_variant(variant, bench)
    try:
        sequential_heads(box, 30)  # all succeed: tcp_alloc reclaims the oldest TIME_WAIT
    finally:
        box.stop()
    tl = pd.read_csv(bench / "device.csv")
    assert tl["pcbs"].max() <= cap.value == 12, f"PCB cap 12 ({cap.cite})"
    assert tl["time_wait"].max() >= 11, "TIME_WAIT PCBs fill the 12 slots before reclaiming"


def test_nodemcu_2016_culls_closing_pcbs_and_rsts_late_segments(bench: Path) -> None:
    """espconn_kill_oldest_pcb frees the oldest FIN_WAIT_2 silently once 5 pile up; the
    client's later FIN on that connection meets no PCB and gets a RST."""
    variant = load_variant("nodemcu-2016")
    cite = variant.emulation.behaviour_citations["cull_closing"]
    box = up_variant(variant, bench)
    try:
        out = client(
            box,
            f"""
            import socket, time
            held = []
            for _ in range(6):   # read until the device's FIN, but do not close: FIN_WAIT_2
                s = socket.create_connection(("{DEVICE}", 80), timeout=5)
                s.sendall(b"HEAD / HTTP/1.1\\r\\n\\r\\n")
                while s.recv(4096): pass
                # not a wait for anything: spacing, so that the first PCB is slow-timer ticks
                # (500 ms) older than the last and espconn's "oldest" is the first
                held.append(s); time.sleep(0.2)
            print(held[0].getsockname()[1])
            for s in held: s.close()   # late FINs
        """,
        )
        wait_answered(box)  # every late FIN has had its answer (the culled one a RST)
    finally:
        box.stop()
    first_port = int(out.split()[-1])
    tl = pd.read_csv(bench / "device.csv")
    assert tl["culled"].max() >= 1, f"espconn culling ({cite})"
    pkts = [p for p in rdpcap(str(bench / "capture-client.pcap")) if TCP in p]
    late = [
        p
        for p in pkts
        if p[TCP].sport == 80 and p[TCP].dport == first_port and "R" in str(p[TCP].flags)
    ]
    assert late, f"the culled connection's late FIN got no RST ({cite})"


def test_heap_budget_falls_with_time_wait_pcbs(bench: Path) -> None:
    """[heap]: every PCB lwIP keeps comes out of the cited free heap (MEMP_MEM_MALLOC=1 via
    mem_malloc -> mem_clib_malloc -> heap.c), and device.csv shows what is left."""
    variant = load_variant("esp-idf-5.3")
    assert variant.heap is not None
    box = up_variant(variant, bench)
    try:
        sequential_heads(box, 30)
        wait_answered(box)  # every close has had the device's answer: its PCBs are in TIME_WAIT
    finally:
        box.stop()
    tl = pd.read_csv(bench / "device.csv")
    assert tl["heap_free"].iloc[0] <= variant.heap.free_bytes
    assert tl["time_wait"].max() == 30
    # 30 TIME_WAIT PCBs held: at least 100 bytes each (a tcp_pcb is larger on any build)
    assert tl["heap_free"].iloc[0] - tl["heap_free"].min() >= 30 * 100
    assert (tl["heap_free"] + tl["mem_used"] <= variant.heap.free_bytes + 64).all()


def test_small_heap_fails_allocations_and_drops_syns(bench: Path) -> None:
    """With a heap too small for 30 TIME_WAIT PCBs, allocations fail (alloc_fail counts them),
    heap_free never goes below 0, and the stack stops answering SYNs (the heap_exhaustion
    probe's syn_dropped on esp-idf-5.3)."""
    variant = load_variant("esp-idf-5.3")
    args = variant.device_args()
    args[args.index("--heap-bytes") + 1] = "6000"
    box = bring_up(
        kind=variant.kind,
        lwip=variant.emulation.lwip or "2.1.3",
        options=variant.emulation.options,
        device_args=args,
        link_args=[],
        cell_dir=bench,
        duration_s=120,
        log=lambda _m: None,
    )
    try:
        out = client(
            box,
            f"""
            import socket
            served = refused = 0
            for _ in range(30):
                try:
                    s = socket.create_connection(("{DEVICE}", 80), timeout=1.5)
                    s.sendall(b"HEAD / HTTP/1.1\\r\\n\\r\\n")
                    while s.recv(4096): pass
                    s.close()
                    served += 1
                except OSError:
                    refused += 1
            print(served, refused)
        """,
        )
    finally:
        box.stop()
    served, refused = (int(x) for x in out.split()[-2:])
    tl = pd.read_csv(bench / "device.csv")
    assert tl["alloc_fail"].max() > 0
    assert tl["heap_free"].min() >= 0
    assert served > 0 and refused > 0, (served, refused)
