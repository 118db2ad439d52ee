"""Run the seed study and write seed.json (results/README.md, "seed.json")."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from closebench.pipeline import runner
from closebench.schema import write_json
from closebench.seed import grid
from closebench.seed import verdicts as rules
from closebench.seed.evidence import cell_figures
from closebench.variants.apps import APP_SEP

VARIANT = "nodemcu-2016"
CONTROL = "linux-reference"
PROFILE = "seed-2016"
LINK = "seed-lab"
DEFAULT_SEEDS = 5
QUICK_SEEDS = 1
QUICK_RUN_TIME_S = 12.0  # 6 s at 1 s, then 6 s at 0.2 s: the phases keep their proportions
QUICK_COOLDOWN_S = 12.0
# --quick still waits for quiet, but at most this long (the full run: Linux's retry budget)
QUICK_COOLDOWN_LIMIT_S = 60.0
SCHEMA_VERSION = 2  # 2: hypotheses (issue 26), obs. 5 rule changed (rule_changes)

# Documented facts the study checked; none is implemented as a mechanism unless the link
# profile says so (benchmarks/links/seed-lab.toml).
FACTS = [
    {
        "fact": "NONOS SDK default sleep type is modem sleep",
        "source": "ESP8266 Non-OS SDK API Reference, wifi_set_sleep_type (v2.2.1 text quoted in "
        "letscontrolit/ESPEasy#1961: 'Default mode: MODEM_SLEEP')",
        "used": "yes: the seed-lab link buffers frames toward the device until the DTIM beacon",
    },
    {
        "fact": "in modem sleep the station wakes at every DTIM (listen interval 0)",
        "source": "esp8266/Arduino doc/esp8266wifi/generic-class.rst ('WiFi power management, "
        "DTIM', quoting the NONOS SDK); Espressif 'ESP8266 Low Power Solutions' ch. 2",
        "used": "yes: DTIM period 2 x beacon 102.4 ms (hostapd defaults: beacon_int=100, "
        "dtim_period=2; an assumption for the 2016 AP)",
    },
    {
        "fact": "TCP timer tick raised from 250 ms to 3 s in power save",
        "source": "the NONOS SDK API Reference (v2.2.1 text, quoted in letscontrolit/ESPEasy#1961) "
        "says this happens in LIGHT_SLEEP mode only and recommends modem sleep where TCP timer "
        "accuracy matters; the esp8266/Arduino doc's 'LIGHT or MODEM' is its own summary, not "
        "the SDK's words. Not verified against the SDK 1.5.4.1 documentation (not at hand).",
        "used": "no: the seed's device ran the default modem sleep, where the SDK text keeps "
        "the 250 ms tick (the stack timer lives in the SDK shim, not in the link)",
    },
    {
        "fact": "a station in modem sleep may stay awake for a while after traffic",
        "source": "forum/issue reports only (bbs.espressif.com 'Force Light/Sleep AT Command': "
        "100 ms to 2 s before sleeping again; espressif/ESP8266_NONOS_SDK#371: ping RTTs of a few "
        "ms with MODEM_SLEEP_T at DTIM 1); no Espressif document",
        "used": "no (undocumented); if true, buffering at DTIM is rarer than the link models",
    },
]


def _bounds(manifest: dict[str, Any], profile: str = PROFILE) -> list[tuple[float, float, float]]:
    """(start_s, end_s, interval_s) per phase, as the run played them (scaled to its run time)."""
    prof = (manifest.get("profiles") or {}).get(profile) or {}
    run_time = float(manifest.get("run_time_s") or prof.get("run_time_s") or 0)
    phases = prof.get("phases") or [{"interval_s": prof.get("interval_s", 1.0),
                                     "run_time_s": prof.get("run_time_s", run_time)}]  # fmt: skip
    scale = run_time / sum(float(p["run_time_s"]) for p in phases) if run_time else 1.0
    out, start = [], 0.0
    for p in phases:
        end = start + float(p["run_time_s"]) * scale
        out.append((start, end, float(p["interval_s"])))
        start = end
    out[-1] = (out[-1][0], float("inf"), out[-1][2])  # the last requests end after the window
    return out


def _evidence(key: str, f: rules.CellFigures, extra: dict[str, Any]) -> dict[str, Any]:
    """The figures behind one observation's verdict in one cell, with the connection ids."""
    if key == "3":
        ids = ([f.first_faulty["conn_id"]] if f.first_faulty else []) + extra["faulty_conn_ids"]
        figures = {
            "first_faulty": f.first_faulty,
            "clean_before_first_fault": f.clean_before_first_fault,
            "faulty_after_first": f.faulty_after_first,
            "connections_after_first": f.after_first,
            "faulty": extra["faulty"],
            "connections": f.connections,
            "faulty_close_kinds": extra["faulty_close_kinds"],
        }
    elif key == "4":
        ids = extra["device_first_conn_ids"]
        figures = {
            "closers": f.closers,
            "device_fin_after_response_s_median": f.device_fin_gap_s_median,
            "device_fin_gaps_measured": extra["device_fin_gaps_measured"],
        }
    elif key == "5":
        ids = f.back_and_forth + [i for i in f.duels if i not in f.back_and_forth]
        ids = ids or extra["faulty_conn_ids"]
        figures = {
            "duels": len(f.duels),
            "back_and_forth_duels": len(f.back_and_forth),
            "duel_teardown_by_side": f.composition,
            "faulty_teardown_by_side": extra["faulty_composition"],
            "faulty_after_first": f.faulty_after_first,
            "duels_after_first": f.duels_after_first,
            "teardown_ms_p50_faulty": extra["teardown_ms_p50_faulty"],
            "teardown_ms_max_duel": extra["teardown_ms_max_duel"],
        }
    elif key == "6":
        ids = f.after_load_duels + [
            i for i in f.after_load["conn_ids"] if i not in f.after_load_duels
        ]
        figures = {**f.after_load, "after_load_duels": len(f.after_load_duels)}
        figures.pop("conn_ids", None)
    else:
        ids = [i for p in f.phases for i in p["faulty_conn_ids"]]
        figures = {
            "phases": [{k: v for k, v in p.items() if k != "faulty_conn_ids"} for p in f.phases]
        }
    return {"cell_id": f.cell_id, "figures": figures, "conn_ids": sorted(set(ids))[: 2 * 25]}


def _characteristic(run_dir: Path, cells: dict[str, Any]) -> dict[str, Any] | None:
    """The connection that shows the variant's closes best: a late duel, a duel, else a fault."""
    for field, why in (
        ("after_load_duels", "a back-and-forth duel still going after the load stopped"),
        ("back_and_forth", "a back-and-forth duel"),
        ("duels", "a duel"),
    ):
        for cell_id, cell in cells.items():
            ids = cell["figures"].get(field) or []
            if ids:
                return {"cell_id": cell_id, "conn_id": int(ids[0]), "why": why}
    from closebench.report.tables import _characteristic as pick

    frames = []
    for cell_id in cells:
        path = run_dir / cell_id / "connections.parquet"
        if path.exists():
            frames.append(pd.read_parquet(path).assign(cell_id=cell_id))
    if not frames:
        return None
    conns = pd.concat(frames, ignore_index=True)
    if conns.empty:
        return None
    row, why = pick(conns, pd.Series(False, index=conns.index))
    return {"cell_id": str(row["cell_id"]), "conn_id": int(row["conn_id"]), "why": why}


def _variant_section(
    run_dir: Path, manifest: dict[str, Any], name: str, profile: str = PROFILE
) -> dict[str, Any]:
    """One hypothesis (or the control under one client behaviour): the cells of `name` under
    `profile`, a verdict per observation per cell and across seeds."""
    bounds = _bounds(manifest, profile)
    cells: dict[str, Any] = {}
    per_obs: dict[str, dict[str, Any]] = {k: {"per_cell": {}, "evidence": []} for k in rules.RULES}
    duels: list[dict[str, Any]] = []
    for cell in sorted(manifest.get("cells", []), key=lambda c: c["id"]):
        if cell.get("variant") != name or cell.get("profile") != profile:
            continue
        entry: dict[str, Any] = {
            "status": cell["status"],
            "seed": (manifest.get("seeds") or {}).get(cell["id"]),
            "repetition": cell.get("repetition"),
            "app": cell.get("app"),
            "cooldown": _cooldown_of(run_dir / cell["id"]),
        }
        cells[cell["id"]] = entry
        cell_dir = run_dir / cell["id"]
        if cell["status"] != "ok" or not (cell_dir / "connections.parquet").exists():
            continue
        figures, extra = cell_figures(cell_dir, bounds)
        duels += [{"cell_id": cell["id"], **d} for d in extra.pop("duel_ladders")]
        verdicts = rules.judge(figures)
        entry["verdicts"] = verdicts
        entry["figures"] = {
            "connections": figures.connections,
            "duels": figures.duels,
            "back_and_forth": figures.back_and_forth,
            "after_load_duels": figures.after_load_duels,
        }
        for key, verdict in verdicts.items():
            per_obs[key]["per_cell"][cell["id"]] = verdict
            per_obs[key]["evidence"].append({"verdict": verdict, **_evidence(key, figures, extra)})
    observations = {}
    for key, data in per_obs.items():
        verdicts = list(data["per_cell"].values())
        observations[key] = {
            "observation": rules.OBSERVATIONS[key],
            "rule": rules.RULE_TEXT[key],
            "verdict": rules.overall(verdicts),
            "seeds": len(verdicts),
            "reproduced_in": verdicts.count(rules.REPRODUCED),
            "partly_in": verdicts.count(rules.PARTLY),
            "not_reproduced_in": verdicts.count(rules.NOT),
            **data,
        }
    info = (manifest.get("variants") or {}).get(name) or {}
    return {
        "variant": name,
        "profile": profile,
        "app": (info.get("app") or {}).get("name"),
        "device_speed": info.get("device_speed"),
        "source": info.get("source") or ("the Linux kernel" if name == CONTROL else None),
        "exact_source": info.get("exact_source", False),
        "cells": cells,
        "observations": observations,
        "duels": duels,
        "characteristic": _characteristic(
            run_dir, {k: v for k, v in cells.items() if "figures" in v}
        ),
    }


def _mechanisms(manifest: dict[str, Any]) -> list[str]:
    """The documented mechanisms this run had in play (from the manifest, not by hand)."""
    named = [n for n in manifest.get("variants") or {} if n.split(APP_SEP)[0] == VARIANT]
    info = (manifest.get("variants") or {}).get(named[0] if named else VARIANT) or {}
    link = (manifest.get("links") or {}).get(LINK) or {}
    to_dev = link.get("to_device") or {}
    out = [
        f"stack: {info.get('source') or info.get('stack')}",
        f"app close behaviour: {info.get('close')}",
        f"SYN admission: {info.get('admission')} (limit {info.get('admission_limit')})",
        f"espconn culling of closing PCBs: {info.get('cull_closing')}",
        f"TIME_WAIT cap: {info.get('tw_cap')}",
        f"link: DTIM buffering toward the device (beacon {to_dev.get('beacon_ms')} ms x DTIM "
        f"{to_dev.get('dtim')}), loss {to_dev.get('loss')}, delay {to_dev.get('delay_ms')} ms",
    ]
    return out


MISSING_PIECES = [
    "the SDK's closed Wi-Fi MAC: power-save details beyond DTIM buffering (PS-Poll, how long the "
    "station stays awake after traffic, MAC retries toward a dozing station) are not modelled; "
    "only DTIM buffering is documented",
    "the seed's own init.lua is not published: the study runs the apps nodemcu-2016 names (the "
    "firmware README's server and the bench's HTTP/1.1 page), both closing in the sent "
    "callback; a Lua app that closed differently (e.g. in the receive callback, before the "
    "send completed) would close differently",
    "the seed's client script is not published: the study runs the client behaviours of "
    "closebench.load.behaviours (HEAD-aware close after the headers, read until the server "
    "closes); a client that did neither (e.g. a fixed sleep before close) is not measured",
    "the chip's heap: with a few tens of KB, tcp_alloc's out-of-memory path (kill the oldest "
    "TIME_WAIT, then RST a lower-priority PCB) runs on the device but never on the host",
    "the stack: when the run used the approximation (manifest variants.<name>.source), the "
    "fork's own code paths (the variant's known_differences) were not exercised",
]


def _cooldown_of(cell_dir: Path) -> dict[str, Any] | None:
    """How the cell's cooldown ended (inner.json): quiet, or at the retry budget's limit."""
    path = cell_dir / "inner.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("cooldown")


def _sections(run_dir: Path, manifest: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """One section per hypothesis (variant as named in the run x profile) and per control x
    profile, keyed by a readable label; plus the grid rows (closebench.seed.grid)."""
    from closebench.load.behaviours import behaviour_of

    profiles = manifest.get("profiles") or {}
    client_of = {
        name: behaviour_of(prof.get("client_close", "after_response")).name
        for name, prof in profiles.items()
    }
    pairs = sorted({(c["variant"], c["profile"]) for c in manifest.get("cells", [])})
    sections: dict[str, Any] = {}
    rows = []
    for name, profile in sorted(pairs, key=lambda p: (p[0] == CONTROL, p)):
        sec = _variant_section(run_dir, manifest, name, profile)
        client = client_of.get(profile, profile)
        if name == CONTROL:
            sections[f"{CONTROL} · client {client}"] = {**sec, "client": client}
            continue
        hyp = grid.Hypothesis(sec["app"] or "default", client, sec["device_speed"] or "model")
        verdicts = {k: o["verdict"] for k, o in sec["observations"].items()}
        sections[f"{VARIANT} · {hyp.label}"] = {**sec, "client": client}
        rows.append({"label": f"{VARIANT} · {hyp.label}", "app": hyp.app, "client": client,
                     "speed": hyp.speed, "verdicts": verdicts,
                     **grid.conclusion(verdicts)})  # fmt: skip
    return sections, rows


def _ends_at_model(manifest: dict[str, Any]) -> list[str]:
    """The band's ends that were not run because they are the model (grid.same_as_model),
    read from the model cell's own [timing] record, so the view is re-derived from the run."""
    for name, record in (manifest.get("variants") or {}).items():
        timing = record.get("timing") or {}
        if name.startswith(VARIANT) and record.get("device_speed") == "model" and timing:
            return grid.ends_at_model(timing.get("band") or {})
    return []


def build_seed_json(
    run_dir: Path, *, quick: bool = False, timer_info: dict[str, Any] | None = None
) -> Path:
    """Judge every observation per cell, per hypothesis across seeds; write run_dir/seed.json."""
    run_dir = Path(run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    sections, rows = _sections(run_dir, manifest)
    doc = {
        "schema_version": SCHEMA_VERSION,
        "run_id": manifest.get("run_id", run_dir.name),
        "quick": quick,
        "procedure": {
            "variant": VARIANT,
            "control": CONTROL,
            "profile": (manifest.get("profiles") or {}).get(PROFILE),
            "profiles": manifest.get("profiles"),
            "phases_s": [  # start, end (None: until the last request ended), interval
                [b0, b1 if b1 != float("inf") else None, iv] for b0, b1, iv in _bounds(manifest)
            ],
            "link": (manifest.get("links") or {}).get(LINK),
            "run_time_s": manifest.get("run_time_s"),
            "cooldown_s": manifest.get("cooldown_s"),
            "seeds": manifest.get("seeds"),
            "timers": timer_info,
        },
        "hypotheses": rows,
        "band": grid.band_view(rows, _ends_at_model(manifest)),
        "variants": sections,
        "rule_changes": {"5": rules.OBS5_RULE_CHANGE},
        "facts": FACTS,
        "mechanisms_tried": _mechanisms(manifest),
        "missing_pieces": MISSING_PIECES,
    }
    out = run_dir / "seed.json"
    write_json(out, doc, default=_json_default)
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and value == float("inf"):
        return None
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def run_seed_study(
    *,
    seeds: int | None = None,
    quick: bool = False,
    source_mode: str = "auto",
    device_speed: str = "model",
    results: Path | None = None,
    jobs: int | None = None,
    verify: bool = True,
    force: bool = False,
    cooldown_s: float | None = None,
    progress: Any = None,
    log: Callable[[str], object] = print,
) -> Path:
    """Measure every hypothesis's cells and the control's, then write seed.json."""
    from closebench.load.profiles import load_profile
    from closebench.seed.timers import timers
    from closebench.variants.manifest import load_variants

    base, control = load_variants([VARIANT, CONTROL])
    profile = load_profile(PROFILE)
    timer_info = timers(base)
    # until both stacks are quiet, at most Linux's own retry budget (--cooldown: fixed)
    until_quiet = cooldown_s is None
    if cooldown_s is None:
        limit = timer_info["cooldown_limit_s"]
        cooldown_s = min(limit, QUICK_COOLDOWN_LIMIT_S) if quick else limit
    speeds = grid.speed_axis(device_speed, base)
    hyps = grid.hypotheses(base, speeds)
    chosen = [grid.variant_for(base, h.app, h.speed) for h in hyps]
    chosen = [*{v.name: v for v in chosen}.values(), control]
    matrix = runner.make_matrix(
        None,
        sorted(set(grid.PROFILES.values())),
        [LINK],
        repetitions=seeds or (QUICK_SEEDS if quick else DEFAULT_SEEDS),
        quick=quick,
        run_time_s=QUICK_RUN_TIME_S if quick else profile.run_time_s,
        cooldown_s=cooldown_s,
        source_mode=source_mode,
        variant_list=chosen,
        device_speed={v.name: v.device_speed if v.kind == "lwip" else "host" for v in chosen},
    )
    matrix = dataclasses.replace(matrix, until_quiet=until_quiet, trace_tx=True)
    log(
        f"seed study: {len(hyps)} hypotheses (app x client behaviour x device speed "
        f"{'/'.join(speeds)}) + the control, {len(matrix.cells())} cells, load "
        f"{matrix.run_time_s:.0f} s (phases "
        f"{[(round(a, 1), b) for a, _, b in profile.phase_bounds(matrix.run_time_s)]}), then "
        + (
            f"capture until both stacks are quiet, at most {matrix.cooldown_s:.0f} s "
            + ("(--quick)" if quick else "(Linux's retry budget)")
            if until_quiet
            else f"a fixed cooldown of {matrix.cooldown_s:.0f} s"
        )
    )
    log("hypotheses: " + "; ".join(h.label for h in hyps))
    run_dir = runner.run_matrix(
        matrix,
        kind="seed",
        jobs=jobs,
        results=results,
        progress=progress,
        log=log,  # type: ignore[arg-type]
        verify=verify,
        force=force,
        verify_observe_s=runner.QUICK_VERIFY_OBSERVE_S if quick else runner.VERIFY_OBSERVE_S,
    )
    build_seed_json(run_dir, quick=quick, timer_info=timer_info)
    return run_dir
