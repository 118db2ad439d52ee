"""Run probes against one variant: each probe in a fresh sandbox with a fresh device.

Probes of one variant run in parallel sandboxes (own net+pid namespaces each, so they cannot
see each other's packets); most of a probe's time is spent waiting for the device's timers,
so `jobs` may exceed the core count without disturbing the timings (tolerances >= 250 ms).
The slowest probe bounds the variant's wall time: about max_observe_s + 10 s.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from closebench.bench.links import load_link
from closebench.bench.sandbox import Sandbox
from closebench.bench.testbed import DeviceSpec
from closebench.errors import UserError
from closebench.probes import catalog
from closebench.probes.judge import judge
from closebench.schema import write_json
from closebench.variants.manifest import Variant, load_variant

FORMAT_VERSION = 1
DEFAULT_MAX_OBSERVE_S = 70.0  # long timers (120 s TIME_WAIT) become lower bounds past this
SETUP_BUDGET_S = 60.0  # device start, handshakes and teardown on a loaded machine


def _plain_expect(variant: Variant) -> dict[str, Any]:
    return {key: exp.value for key, exp in variant.expect.items()}


def _build(variant: Variant, source_mode: str, log: Callable[[str], None]) -> tuple[Variant, Any]:
    """The variant as it will run and its device build (the same cached build a run uses)."""
    from closebench.bench.variant_build import resolve

    return resolve(variant, source_mode, log)  # type: ignore[arg-type]


def _run_one(
    variant: Variant, name: str, binary: str, out_dir: Path, max_observe_s: float
) -> dict[str, Any]:
    pdir = out_dir / name
    pdir.mkdir(parents=True, exist_ok=True)
    bound_s = 2 * max_observe_s + SETUP_BUDGET_S
    device = DeviceSpec(
        kind=variant.kind,
        binary=binary,
        device_args=variant.device_args() if variant.kind == "lwip" else [],
        link_args=load_link("ideal").device_args(),
        seed=1,
        pcap=str(pdir / "capture-device.pcap"),
        timeline=str(pdir / "device.csv"),
        log_dir=str(pdir),
        duration_s=bound_s + 30,
    )
    spec = {
        "probe": name,
        "probe_file": str(catalog.probe_file(name)),
        "out_dir": str(pdir),
        "device": asdict(device),
        "kind": variant.kind,
        "close_mode": variant.emulation.close,
        "expect": _plain_expect(variant),
        "max_observe_s": max_observe_s,
    }
    spec_path = pdir / "probe-spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    started = time.monotonic()
    box = Sandbox(
        [sys.executable, "-m", "closebench.probes.inside", str(spec_path)], log=pdir / "sandbox.log"
    )
    try:
        box.wait(bound_s)
    except Exception:  # over its time bound (or Ctrl-C): tear the bench down regardless
        box.stop(grace_s=10)
        raise
    finally:
        box.stop(grace_s=10)
    result_path = pdir / "result.json"
    if not result_path.exists():
        return {
            "probe": name,
            "status": f"failed: no result, see {pdir / 'sandbox.log'}",
            "observations": [],
            "duration_s": round(time.monotonic() - started, 2),
        }
    result = json.loads(result_path.read_text())
    result["wall_s"] = round(time.monotonic() - started, 2)
    return result


def _mark(row: dict[str, Any]) -> str:
    """FAIL only for a contradiction; a mismatch the variant lists as known says so."""
    if row["pass"] is False and row.get("known_difference"):
        return "known difference:"
    return {True: "ok  ", False: "FAIL", None: "--  "}[row["pass"]]


def run_probes(
    variant: Variant,
    probes: list[str] | None,
    out_dir: Path,
    *,
    log: Callable[[str], None] = print,
    jobs: int = 4,
    max_observe_s: float = DEFAULT_MAX_OBSERVE_S,
    source_mode: str = "auto",
    device_speed: str = "host",
) -> dict[str, Any]:
    """Run probes (all when None) against variant; writes out_dir/<variant>.json, returns it.

    source_mode: auto | exact | approximation (see closebench.bench.variant_build).
    device_speed: host (default: the probes time the stack's own timers and rules, which the
    chip's speed does not change) or model (the variant's [timing] core).
    """
    names = probes if probes is not None else catalog.probe_names()
    for name in names:
        catalog.probe_file(name)
    if max_observe_s < 5:
        raise UserError("--max-observe must be at least 5 s")
    out_dir = Path(out_dir)
    vdir = out_dir / variant.label
    vdir.mkdir(parents=True, exist_ok=True)
    variant = variant.with_device_speed(device_speed)
    variant, build = _build(variant, source_mode, log)
    binary = str(build.path)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    log(f"probing {variant.label}: {', '.join(names)} ({min(jobs, len(names))} at a time)")
    with ThreadPoolExecutor(max(1, min(jobs, len(names)))) as pool:
        runs = list(pool.map(lambda n: _run_one(variant, n, binary, vdir, max_observe_s), names))
    probes_info, rows = _judge_runs(variant, runs, log)
    data = {
        "format": FORMAT_VERSION,
        "variant": variant.label,
        "lwip": variant.emulation.lwip,
        "source": build.provenance if variant.kind == "lwip" else None,
        "exact_source": variant.exact,
        "kind": variant.kind,
        "started": started.isoformat(),
        "wall_s": round(time.monotonic() - t0, 1),
        "max_observe_s": max_observe_s,
        "probes": probes_info,
        "results": rows,
    }
    write_json(out_dir / f"{variant.label}.json", data)
    return data


def _judge_runs(
    variant: Variant, runs: list[dict[str, Any]], log: Callable[[str], None]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Each probe's status, and each observation judged against the manifest's [expect]."""
    rows: list[dict[str, Any]] = []
    probes_info: dict[str, Any] = {}
    for run in runs:
        probes_info[run["probe"]] = {k: run.get(k) for k in ("status", "duration_s", "wall_s")}
        if run["status"] != "ok":
            log(f"  {run['probe']}: {run['status']}")
        for obs in run.get("observations") or []:
            row = judge(variant, obs)
            row["probe"] = run["probe"]
            rows.append(row)
            log(
                f"  {_mark(row)} {row['behaviour']}: {row['measured']} (expected {row['expected']})"
            )
    return probes_info, rows


def failures(data: dict[str, Any]) -> list[str]:
    """What contradicts the manifest (known differences excluded), and probes that broke."""
    bad = [
        f"{r['behaviour']}: measured {r['measured']}, manifest says {r['expected']}"
        for r in data.get("results") or []
        if r.get("pass") is False and not r.get("known_difference")
    ]
    bad += [
        f"probe {name}: {info['status']}"
        for name, info in (data.get("probes") or {}).items()
        if info.get("status") != "ok"
    ]
    return bad


def verify(
    variant: Variant | str,
    out_dir: Path,
    probes: list[str] | None = None,
    *,
    log: Callable[[str], None] = print,
    **kwargs: Any,
) -> bool:
    """Probe a variant and say whether it behaves as its manifest claims (the verify step)."""
    if isinstance(variant, str):
        variant = load_variant(variant)
    bad = failures(run_probes(variant, probes, out_dir, log=log, **kwargs))
    for line in bad:
        log(f"verify {variant.label}: {line}")
    return not bad
