"""PID 1 of a cell's sandbox: network, capture, device, load, cooldown, orderly stop.

Run by `closebench.pipeline.cell` through `Sandbox`; never by hand. It writes events.json and
inner.json (status, capture and device counters) into the cell folder.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from closebench.bench import netsetup
from closebench.bench.testbed import DeviceSpec, Testbed
from closebench.capture.tcpdump import capturer
from closebench.errors import UserError
from closebench.schema import write_json

MARKER = b"closebench cooldown-end marker"
# Printed (to sandbox.log) the moment locust is started: the orchestrator's sign that this
# cell's load phase has begun (cell.measure turns it into the run's "load started" line).
LOAD_STARTED = "load started"


class Stop(Exception):
    """SIGTERM from the orchestrator (Ctrl-C upstairs): finish in order."""


def _on_term(signum: int, frame: object) -> None:
    raise Stop


def _event(events: dict[str, Any], name: str) -> None:
    now = time.time()
    # Both captures are stamped with this host's CLOCK_REALTIME: capture clock == wall clock.
    events[name] = {"wall": now, "capture": now}


def run(spec: dict[str, Any]) -> dict[str, Any]:
    cell = Path(spec["cell_dir"])
    bed = Testbed(DeviceSpec(**spec["device"]))
    events: dict[str, Any] = {}
    result: dict[str, Any] = {"status": "ok", "events": events}
    dump = None
    try:
        bed.setup_network()
        dump = capturer("cb0", cell / "capture-client.pcap", log=cell / "tcpdump.log")
        dump.start()
        bed.start_device()
        _event(events, "device_start")
        load = spec.get("locust")
        if load:
            _event(events, "locust_start")
            with (cell / "locust.log").open("ab") as log:
                proc = subprocess.Popen(
                    load["argv"], env=load["env"], cwd=cell, stdout=log, stderr=subprocess.STDOUT
                )
                print(LOAD_STARTED, flush=True)
                try:
                    result["locust_exit"] = proc.wait(load["timeout_s"])
                except subprocess.TimeoutExpired:
                    proc.terminate()
                    result["locust_exit"] = proc.wait(10)
                    result["status"] = "failed: locust overran its time bound"
                finally:
                    if proc.poll() is None:
                        proc.kill()
            _event(events, "locust_exit")
        else:
            print("bench ready", flush=True)
        _cool_down(spec, result)
        _event(events, "cooldown_end")
        _marker()
    except Stop:
        result["status"] = "interrupted"
    except UserError as exc:
        result["status"] = f"failed: {exc}"
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finish the orderly stop
        result["device"] = bed.stop_device()
        if dump is not None:
            time.sleep(spec.get("capture_tail_s", 2.0))  # tcpdump buffers ~1 s of packets
            result["capture_client"] = dump.stop()
        write_json(cell / "events.json", {"clock": "CLOCK_REALTIME", "events": events})
        write_json(cell / "inner.json", result)
    return result


def _marker() -> None:
    """One UDP datagram at the end of the cooldown: proof in the client capture that it was
    still recording then (an idle link is otherwise silent). The analyzer skips non-TCP."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(MARKER, (netsetup.DEVICE_IP, 9))


def _cool_down(spec: dict[str, Any], result: dict[str, Any]) -> None:
    """The cooldown: a fixed time, or (until_quiet) until neither stack may still send, at
    most cooldown_s (closebench.pipeline.quiet)."""
    if not spec.get("until_quiet"):
        _sleep(spec["cooldown_s"])
        return
    from closebench.pipeline.quiet import wait_until_quiet

    timeline = Path(spec["device"]["timeline"])
    res = wait_until_quiet(netsetup.DEVICE_IP, timeline, float(spec["cooldown_s"]))
    result["cooldown"] = {"until_quiet": True, "limit_s": spec["cooldown_s"], **res.__dict__}


def _sleep(seconds: float) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))


def main() -> int:
    signal.signal(signal.SIGTERM, _on_term)  # PID 1 ignores signals it has no handler for
    spec = json.loads(Path(sys.argv[1]).read_text())
    result = run(spec)
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
