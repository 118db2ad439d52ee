"""The report's "The 2016 test" section: drawn only when the run has a seed.json.

Everything shown comes from seed.json (closebench.seed) and the cells' captures.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from closebench.report import display as show
from closebench.report import figures
from closebench.report.data import RunData
from closebench.report.pcap import connection_segments
from closebench.report.sections import guarded

# The device's view of a connection is shifted by the link (a DTIM wait, up to a few
# hundred ms) against the client's: look this much wider for its packets.
DEVICE_SLACK_S = 1.0
QUICK_NOTE = " (quick smoke run: too short for the verdicts to mean much)."
GOOD = {"reproduced": "good", "not reproduced": "bad"}


def _short(key: str, figures_: dict[str, Any]) -> str:
    """One line of the figures behind a verdict in one cell."""
    f = figures_
    if key == "3":
        first = f.get("first_faulty")
        if not first:
            return f"no faulty close in {f['connections']} connections"
        return (
            f"first faulty: conn {first['conn_id']} (#{first['index']}, t={first['t_s']} s, "
            f"phase {first['phase']} @ {first['interval_s']:g} s, {first['close_kind']}); "
            f"{f['faulty_after_first']}/{f['connections_after_first']} faulty after it; "
            f"kinds {f['faulty_close_kinds']}"
        )
    if key == "4":
        return (
            f"first closer {f['closers']}; device FIN {f['device_fin_after_response_s_median']} s "
            f"after its response (median of {f['device_fin_gaps_measured']})"
        )
    if key == "5":
        side = f.get("duel_teardown_by_side") or f.get("faulty_teardown_by_side") or {}
        what = "duel" if f.get("duel_teardown_by_side") else "faulty"
        parts = [
            f"{s}: {c.get('packets', 0)} pkts, FIN {c.get('fin', 0)}, RST {c.get('rst', 0)}, "
            f"retx {c.get('retransmissions', 0)}, dup ACK {c.get('dup_acks', 0)}"
            for s, c in side.items()
        ]
        return (
            f"{f['duels']} duels ({f['back_and_forth_duels']} back-and-forth); {what} teardowns "
            f"by sender: " + "; ".join(parts)
            + f"; longest duel {f.get('teardown_ms_max_duel')} ms"
        )  # fmt: skip
    if key == "6":
        return (
            f"{f['packets']} packets > {f['margin_s']:g} s after the load stop (device "
            f"{f['from_device']}, client {f['from_client']}, RST {f['rst']}); last packet "
            f"{f['last_packet_after_stop_s']} s after it, capture to "
            f"{f['cooldown_end_after_stop_s']} s; {f['after_load_duels']} duels going on"
        )
    return "; ".join(
        f"{p['interval_s']:g} s: {p['faulty']}/{p['connections']} faulty, {p['duels']} duels"
        for p in f["phases"]
    )


def _verdict_table(doc: dict[str, Any]) -> None:
    names = list(doc["variants"])
    rows, classes = [], []
    for key, obs in doc["variants"][names[0]]["observations"].items():
        row = {"observation": f"{key}. {obs['observation']}"}
        cls = {"observation": ""}
        for name in names:
            o = doc["variants"][name]["observations"][key]
            row[name] = (
                f"{o['verdict']} (reproduced in {o['reproduced_in']}, partly in "
                f"{o['partly_in']} of {o['seeds']} seeds)"
            )
            cls[name] = GOOD.get(o["verdict"], "")
        rows.append(row)
        classes.append(cls)
    show.table(
        pd.DataFrame(rows),
        "Per observation of the 2016 post: the verdict across link seeds (the most frequent; a "
        "tie goes to the weaker). For the control, 'reproduced' means Linux shows it too.",
        classes=pd.DataFrame(classes),
    )


def _cooldowns(doc: dict[str, Any]) -> None:
    """How each cell's capture after the load ended: quiet, or at the retry budget's limit."""
    rows = []
    for name, sec in doc["variants"].items():
        for cell_id, cell in sec["cells"].items():
            cd = cell.get("cooldown") or {}
            if cd:
                rows.append({"cell": cell_id, "hypothesis": name,
                             "ended": "quiet" if cd.get("quiet") else "at the limit",
                             "after the load (s)": cd.get("waited_s"),
                             "limit (s)": cd.get("limit_s")})  # fmt: skip
    if rows:
        show.table(pd.DataFrame(rows), "Each cell's capture after the load.")


def _hypotheses(doc: dict[str, Any]) -> None:
    """Hypotheses x observations, each with its conclusion; none chosen by its outcome."""
    hyps = doc.get("hypotheses") or []
    if not hyps:
        return
    keys = list(hyps[0]["verdicts"])
    rows, classes = [], []
    for h in hyps:
        row = {"hypothesis": h["label"], **{f"obs. {k}": h["verdicts"][k] for k in keys}}
        row["conclusion"] = h["text"]
        rows.append(row)
        cls = {"hypothesis": "", "conclusion": "good" if h["consistent"] else ""}
        classes.append({**cls, **{f"obs. {k}": GOOD.get(h["verdicts"][k], "") for k in keys}})
    show.table(
        pd.DataFrame(rows),
        "Every hypothesis (app x client behaviour x device speed), measured on the same link "
        "seeds; a verdict per observation (the most frequent across seeds), and either "
        "'consistent with all observations' or the observations that rule it out.",
        classes=pd.DataFrame(classes),
    )
    change = (doc.get("rule_changes") or {}).get("5")
    if change:
        show.note(f"Observation 5's rule changed: {change['to']}. Before: {change['from']}. "
                  f"Why: {change['why']}.")  # fmt: skip


def _band(doc: dict[str, Any]) -> None:
    """Each verdict at the timing band's ends and the model; timing-sensitive where it moves."""
    rows = []
    for b in doc.get("band") or []:
        row = {"app x client": f"{b['app']} x {b['client']}"}
        for key, o in b["observations"].items():
            row[f"obs. {key}"] = (
                f"**timing-sensitive**: {o['text'].split(': ', 1)[1]}"
                if o["timing_sensitive"]
                else o["text"]
            )
        row["speeds measured"] = ", ".join(b["speeds_measured"])
        row["band ends not defined by the bench"] = ", ".join(b["speeds_missing"]) or "none"
        same = b.get("speeds_same_as_model") or []
        row["band ends equal to the model (run once)"] = ", ".join(same) or "none"
        rows.append(row)
    if rows:
        show.table(pd.DataFrame(rows), "Each verdict across the chip's timing band.")


def _duel_ladders(doc: dict[str, Any]) -> None:
    """Every back-and-forth duel: its packets by sender, RST relations, Linux's judgement."""
    show.display(show.HTML("<h3>Every duel, packet by packet (the laptop's capture)</h3>"))
    for name, sec in doc["variants"].items():
        duels = sec.get("duels") or []
        show.note(f"{name}: {len(duels)} back-and-forth duels.")
        for d in duels:
            went_on = d.get("went_on_after_load_s")
            head = (
                f"{d['cell_id']} · conn {d['conn_id']}: {d['packets']} packets, {d['rsts']} RST"
                + (f", went on {went_on:g} s after the load stopped" if went_on else "")
            )
            rows = [
                {
                    "t (ms)": r["t_ms"],
                    "laptop": f"{r['flags']} seq {r['seq']} ack {r['ack']} len {r['len']} →"
                    if r["from"] == "laptop"
                    else "",
                    "device": ""
                    if r["from"] == "laptop"
                    else f"← {r['flags']} seq {r['seq']} ack {r['ack']} len {r['len']}",
                    "what the packets say": r["note"],
                }
                for r in d["rows"]
            ]
            show.table(pd.DataFrame(rows), head)


def _evidence(doc: dict[str, Any]) -> None:
    for name, var in doc["variants"].items():
        show.display(show.HTML(f"<h3>{show.html.escape(name)}: evidence per seed</h3>"))
        show.note(f"stack: {var.get('source')}")
        for key, obs in var["observations"].items():
            rows = [
                {
                    "cell": ev["cell_id"],
                    "verdict": ev["verdict"],
                    "figures": _short(key, ev["figures"]),
                    "connections cited": ", ".join(str(i) for i in ev["conn_ids"][:12])
                    + (" …" if len(ev["conn_ids"]) > 12 else ""),
                }
                for ev in obs["evidence"]
            ]
            show.table(pd.DataFrame(rows), f"Observation {key}. Rule: {obs['rule']}")


def _ladder(run: RunData, name: str, pick: dict[str, Any] | None) -> None:
    if not pick:
        show.note(f"{name}: no connection to draw.")
        return
    cell_dir = run.run_dir / pick["cell_id"]
    conns = pd.read_parquet(cell_dir / "connections.parquet")
    row = conns[conns["conn_id"] == pick["conn_id"]].iloc[0]
    for capture, label, slack in (
        ("capture-client.pcap", "the laptop's side (client capture)", 0.0),
        ("capture-device.pcap", "the device's side (device capture)", DEVICE_SLACK_S),
    ):
        path = cell_dir / capture
        if not path.is_file():
            show.warn(f"{pick['cell_id']}: no {capture}.")
            continue
        segs = connection_segments(
            path,
            client=(row.client_ip, int(row.client_port)),
            device=(row.device_ip, int(row.device_port)),
            start=float(row.first_ts) - slack,
            end=float(row.last_ts) + slack,
        )
        title = (
            f"{name} · {pick['cell_id']} · conn {pick['conn_id']} ({row.close_kind}, "
            f"{row.teardown_pkts} teardown packets) · {label}"
        )
        show.fig(figures.flow_diagram(segs, title), f"{capture}: no packets of this connection.")
    show.display(
        show.HTML(f'<p class="cb-caption">picked as {show.html.escape(str(pick["why"]))}</p>')
    )


@guarded
def render(run: RunData) -> None:
    path = run.run_dir / "seed.json"
    if not path.is_file():
        return
    doc = json.loads(path.read_text())
    show.display(show.HTML('<a id="seed"></a><h2>The 2016 test</h2>'))
    proc = doc["procedure"]
    phases = ", then ".join(
        f"every {p[2]:g} s from {p[0]:.0f} s" for p in proc.get("phases_s") or []
    )
    link = proc.get("link") or {}
    timers_ = proc.get("timers") or {}
    capture = (
        f"capture until both stacks are quiet, at most {proc.get('cooldown_s')} s after the "
        "load (Linux's retry budget)"
        if timers_.get("until_quiet") and proc.get("cooldown_s") == timers_.get("cooldown_limit_s")
        else f"capture for at most {proc.get('cooldown_s')} s after the load"
    )
    show.note(
        f"The original procedure as a grid of hypotheses on {proc['variant']} (its apps x the "
        f"client behaviours x device speeds) and the control {proc['control']} per client "
        f"behaviour: one sequential client, HEAD / on a new connection {phases} (one "
        f"continuous run of {proc.get('run_time_s')} s), over the link '{link.get('name')}' "
        f"({link.get('description')}), {len(proc.get('seeds') or {})} cells, {capture}. "
        f"Run {doc['run_id']}" + (QUICK_NOTE if doc.get("quick") else ".")
    )
    timers = (proc.get("timers") or {}).get("timers") or {}
    if timers:
        show.table(
            pd.DataFrame(
                [{"timer": k, "seconds": v["value"], "from": v["from"]} for k, v in timers.items()]
            ),
            "Every timer that could still send after the load. The capture runs until both "
            "stacks are quiet (no Linux socket toward the device and no device PCB in a state "
            "that may send), at most Linux's retry budget. " + (proc["timers"].get("caveat") or ""),
        )
    _cooldowns(doc)
    _hypotheses(doc)
    _band(doc)
    _verdict_table(doc)
    _evidence(doc)
    _duel_ladders(doc)
    show.display(show.HTML("<h3>The characteristic connection, from both sides</h3>"))
    for name, var in doc["variants"].items():
        _ladder(run, name, var.get("characteristic"))
    show.display(show.HTML("<h3>What was tried, and what is missing</h3>"))
    show.bullets(doc.get("mechanisms_tried") or [])
    not_all = not any(h["consistent"] for h in doc.get("hypotheses") or [])
    if not_all:
        show.note("Where an observation does not reproduce, the documented pieces not modelled:")
        show.bullets(doc.get("missing_pieces") or [])
    show.note("Documented facts checked (and whether the bench uses them):")
    show.bullets([f"{f['fact']}. Source: {f['source']}. Used: {f['used']}" for f in doc["facts"]])
