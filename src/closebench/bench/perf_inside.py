"""PID 1 of a perf sandbox: how fast the device serves short connections, and who burns CPU.

Modes: `loops` (plain blocking-socket client processes: connect, HEAD, read, close) and
`locust` (the real harness). Optionally with tcpdump on the client side, to measure the
capture's completeness at that rate. Writes perf.json into the output folder.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from closebench.bench import netsetup
from closebench.bench.testbed import DeviceSpec, Testbed

REQUEST = b"HEAD / HTTP/1.1\r\nHost: device\r\nConnection: close\r\n\r\n"


def _client_loop(duration_s: float, max_conns: int, out: Any) -> None:
    """One client process: new connection per request, client reads the answer and closes."""
    ok = failed = 0
    end = time.monotonic() + duration_s
    while time.monotonic() < end and ok + failed < max_conns:
        s = socket.socket()
        s.settimeout(2.0)
        try:
            s.connect((netsetup.DEVICE_IP, 80))
            s.sendall(REQUEST)
            while s.recv(4096):
                pass
            ok += 1
        except OSError:
            failed += 1
        finally:
            s.close()
    out.put((ok, failed))


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    t = os.times()
    return t.children_user + t.children_system


def run(spec: dict[str, Any]) -> dict[str, Any]:
    out_dir = Path(spec["out_dir"])
    bed = Testbed(DeviceSpec(**spec["device"]))
    bed.setup_network()
    dump = None
    if spec.get("capture"):
        from closebench.capture import capturer

        dump = capturer("cb0", out_dir / "capture-client.pcap", log=out_dir / "tcpdump.log")
        dump.start()
    bed.start_device()
    assert bed.device is not None
    dev_cpu0 = _cpu_s(bed.device.pid)
    self_cpu0 = sum(os.times()[:2])
    child_cpu0 = _children_cpu_s()
    t0 = time.monotonic()
    result: dict[str, Any] = {"mode": spec["mode"]}
    if spec["mode"] == "loops":
        q: Any = mp.Queue()
        procs = [
            mp.Process(target=_client_loop, args=(spec["duration_s"], spec["max_conns"], q))
            for _ in range(spec["clients"])
        ]
        for p in procs:
            p.start()
        counts = [q.get() for _ in procs]
        for p in procs:
            p.join()
        result["ok"] = sum(c[0] for c in counts)
        result["failed"] = sum(c[1] for c in counts)
    else:
        with (out_dir / "locust.log").open("ab") as log:
            proc = subprocess.run(
                spec["argv"],
                env=spec["env"],
                cwd=out_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=spec["duration_s"] + 60,
                check=False,
            )
        result["locust_exit"] = proc.returncode
    elapsed = time.monotonic() - t0
    result["elapsed_s"] = elapsed
    result["device_cpu"] = (_cpu_s(bed.device.pid) - dev_cpu0) / elapsed
    client_cpu = (_children_cpu_s() - child_cpu0) + (sum(os.times()[:2]) - self_cpu0)
    result["client_cpu"] = client_cpu / elapsed
    if "ok" in result:
        result["conn_per_s"] = result["ok"] / elapsed
    result["device"] = bed.stop_device()
    if dump is not None:
        time.sleep(2)  # tcpdump buffers
        result["capture"] = dump.stop()
    (out_dir / "perf.json").write_text(json.dumps(result, indent=1))
    return result


def main() -> int:
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # PID 1 needs an explicit handler
    run(json.loads(Path(sys.argv[1]).read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
