"""PID 1 of one probe's sandbox: network, device, the probe script, JSON out, orderly stop.

Run by `closebench.probes.verify` through `Sandbox`; never by hand. Everything it creates
(TAP, device process, the probe's address) lives in the sandbox's namespaces and dies with it.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from closebench.bench.testbed import DeviceSpec, Testbed
from closebench.errors import UserError
from closebench.probes.catalog import load_probe
from closebench.probes.context import ProbeContext
from closebench.probes.wire import Wire


class Stop(Exception):
    """SIGTERM from the runner: stop in order."""


def _on_term(signum: int, frame: object) -> None:
    raise Stop


def run(spec: dict[str, Any]) -> dict[str, Any]:
    out_dir = Path(spec["out_dir"])
    result: dict[str, Any] = {"probe": spec["probe"], "status": "ok", "observations": []}
    bed = Testbed(DeviceSpec(**spec["device"]))
    wire = None
    started = time.monotonic()
    try:
        module = load_probe(spec["probe"], Path(spec["probe_file"]))
        bed.setup_network()
        bed.start_device()
        wire = Wire()
        wire.resolve()
        ctx = ProbeContext(
            wire=wire,
            kind=spec["kind"],
            close_mode=spec["close_mode"],
            expect=spec["expect"],
            max_observe_s=float(spec["max_observe_s"]),
            log=lambda msg: print(msg, flush=True),
            device_csv=spec["device"].get("timeline"),
        )
        result["observations"] = [o.to_json() for o in module.run(ctx)]
    except Stop:
        result["status"] = "interrupted"
    except UserError as exc:
        result["status"] = f"failed: {exc}"
    except Exception as exc:  # a probe bug must still leave a result and a trace behind
        result["status"] = f"failed: {type(exc).__name__}: {exc}"
        traceback.print_exc()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        result["duration_s"] = round(time.monotonic() - started, 2)
        if wire is not None:
            wire.close()
            result["packets_sent"] = wire.sent
            (out_dir / "trace.txt").write_text("\n".join(wire.trace) + "\n")
        result["device"] = bed.stop_device()
        (out_dir / "result.json").write_text(json.dumps(result, indent=1))
    return result


def main() -> int:
    signal.signal(signal.SIGTERM, _on_term)  # PID 1 ignores signals it has no handler for
    spec = json.loads(Path(sys.argv[1]).read_text())
    return 0 if run(spec)["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
