"""PID 1 of a perf sandbox: how fast the device serves short connections, and who burns CPU.

Modes: `loops` (client processes with many connections in flight: connect, HEAD, read, close) and
`locust` (the real harness). Optionally with tcpdump on the client side, to measure the
capture's completeness at that rate. Writes perf.json into the output folder.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from closebench.bench import netsetup
from closebench.bench.testbed import DeviceSpec, Testbed
from closebench.load.outputs import finalize_load_outputs

CONCURRENCY = 50  # connections in flight per client process: enough to keep the device busy


def _client_loop(
    duration_s: float, max_conns: int, out: Any, concurrency: int = CONCURRENCY
) -> None:
    """One client process: `concurrency` greenlets (CONCURRENCY by default), each a new
    connection per request (HEAD, read the answer, client closes), on gevent's loop without
    locust's bookkeeping: the fastest client this machine has, so the rate is the device's, as
    far as 2 cores allow."""
    import gevent

    from closebench.load.green_client import request_once

    counts: dict[str, Any] = {"ok": 0}  # and one count per failure kind
    started = [0]
    load_start = time.time()  # after the imports: the window of the CPU figures
    end = time.monotonic() + duration_s

    def user() -> None:
        while time.monotonic() < end and started[0] < max_conns:
            started[0] += 1  # taken before the request: no overshoot by requests in flight
            result = request_once(
                (netsetup.DEVICE_IP, 80), "HEAD", "/", connect_timeout_s=2.0, timeout_s=2.0
            )
            kind = result.error.kind if result.error else "ok"
            counts[kind] = counts.get(kind, 0) + 1

    gevent.joinall([gevent.spawn(user) for _ in range(concurrency)])
    out.put((counts, load_start, time.time()))


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _role(pid: str) -> str:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "client"  # exited between the listing and the read; counted nowhere then
    if comm == "cbdev":
        return "device"
    if comm in ("tcpdump", "dumpcap"):
        return "capture"
    # Everything else below PID 1 drives the load: locust and its workers, or the client
    # loop processes (forks of PID 1, same command line)
    return "client"


class CpuSampler:
    """CPU seconds per role (device, client, capture), sampled from /proc every 0.2 s.

    We are PID 1 of the sandbox's PID namespace with its own /proc, so /proc lists exactly
    the bench's processes: no other load on the machine is counted. PID 1 itself (set-up,
    sampling, waiting) is left out. A window [t0, t1] is then cut from the samples, so
    interpreter start-up and imports stay out of the figure.
    """

    PERIOD_S = 0.2

    def __init__(self) -> None:
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.per_pid: dict[str, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for pid in (d for d in os.listdir("/proc") if d.isdigit() and d != "1"):
            known = self.per_pid.get(pid)
            role = known[0] if known else _role(pid)
            with contextlib.suppress(OSError):  # exited: keep its last reading
                self.per_pid[pid] = (role, _cpu_s(int(pid)))
        totals: dict[str, float] = {}
        for role, cpu in self.per_pid.values():
            totals[role] = totals.get(role, 0.0) + cpu
        self.samples.append((time.time(), totals))

    def _run(self) -> None:
        while not self._stop.wait(self.PERIOD_S):
            self._sample()

    def start(self) -> None:
        self._sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def window(self, t0: float, t1: float) -> dict[str, float]:
        """CPU seconds per role spent between the samples nearest to t0 and t1."""
        first = min(self.samples, key=lambda s: abs(s[0] - t0))
        last = min(self.samples, key=lambda s: abs(s[0] - t1))
        span = last[0] - first[0]
        roles = {"device", "client", "capture"} | set(first[1]) | set(last[1])
        used = {r: last[1].get(r, 0.0) - first[1].get(r, 0.0) for r in roles}
        return {"seconds": span, **{f"{r}_cpu_s": round(v, 3) for r, v in used.items()}}


def _tx_dropped(interface: str) -> int | None:
    """Frames the kernel dropped on their way to the device: the TAP's queue was full
    because the device did not read fast enough. /proc/net/dev is this namespace's."""
    for line in Path("/proc/net/dev").read_text().splitlines()[2:]:
        name, _, counters = line.partition(":")
        if name.strip() == interface:
            return int(counters.split()[11])  # transmit: bytes packets errs drop ...
    return None


def run(spec: dict[str, Any]) -> dict[str, Any]:
    out_dir = Path(spec["out_dir"])
    bed = Testbed(DeviceSpec(**spec["device"]))
    bed.setup_network()
    dump = None
    if spec.get("capture"):
        from closebench.capture.tcpdump import capturer

        dump = capturer("cb0", out_dir / "capture-client.pcap", log=out_dir / "tcpdump.log")
        dump.start()
    bed.start_device()
    assert bed.device is not None
    sampler = CpuSampler()
    sampler.start()
    t0 = time.monotonic()
    result: dict[str, Any] = {"mode": spec["mode"]}
    if spec["mode"] == "loops":
        q: Any = mp.Queue()
        procs = [
            mp.Process(
                target=_client_loop,
                args=(
                    spec["duration_s"],
                    spec["max_conns"],
                    q,
                    spec.get("concurrency", CONCURRENCY),
                ),
            )
            for _ in range(spec["clients"])
        ]
        for p in procs:
            p.start()
        reports = [q.get() for _ in procs]
        for p in procs:
            p.join()
        kinds: dict[str, int] = {}
        for counts, _, _ in reports:
            for kind, n in counts.items():
                kinds[kind] = kinds.get(kind, 0) + n
        result["ok"] = kinds.pop("ok", 0)
        result["failed"] = sum(kinds.values())
        result["failures"] = kinds
        # while every client ran: no fork or import in the CPU figures
        window: tuple[float, float] | None = (
            max(r[1] for r in reports),
            min(r[2] for r in reports),
        )
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
    sampler.stop()
    elapsed = time.monotonic() - t0
    result["elapsed_s"] = elapsed
    if "ok" in result:
        result["conn_per_s"] = result["ok"] / elapsed
    result["tap_tx_dropped"] = _tx_dropped("cb0")
    result["device"] = bed.stop_device()
    if dump is not None:
        time.sleep(2)  # tcpdump buffers
        result["capture"] = dump.stop()
    if spec["mode"] != "loops":
        # locust's merged outputs; the load as the wire saw it is the CPU window
        result["load"] = finalize_load_outputs(out_dir)
        first = result["load"]["first_request_epoch_s"]
        last = result["load"]["last_request_end_epoch_s"]
        window = (first, last) if first is not None else None
    if window is not None:
        result["cpu_window"] = sampler.window(*window)
    (out_dir / "perf.json").write_text(json.dumps(result, indent=1))
    return result


def main() -> int:
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # PID 1 needs an explicit handler
    run(json.loads(Path(sys.argv[1]).read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
