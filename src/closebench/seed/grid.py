"""The seed study's hypotheses: app x client behaviour x device speed (issue 26).

The 2016 post does not publish its Lua program or its client script, and the chip's speed is
known only as a band. Each unknown is an axis of cited alternatives, and every combination is
a hypothesis measured on the same link seeds:
- app: the apps nodemcu-2016 names ([[apps]] of its variant.toml: the README server, the
  bench's HTTP/1.1 page);
- client behaviour: closebench.load.behaviours (one load profile each, same pacing);
- device speed: the timing band's ends and the model, as far as the bench defines them
  (closebench.variants.timing.DEVICE_SPEEDS), or the host's speed on request.
No hypothesis is dropped or chosen by its outcome: seed.json and the report show them all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from closebench.load.behaviours import (
    BEHAVIOURS,
    CLOSE_AFTER_HEADERS,
    CLOSE_AFTER_HEADERS_UNREAD,
    READ_UNTIL_CLOSE,
)
from closebench.seed import verdicts as rules
from closebench.variants.apps import APP_SEP
from closebench.variants.manifest import Variant
from closebench.variants.timing import DEVICE_SPEEDS

# The band of the chip's speed, slow end first; only the speeds the bench defines are run.
SPEED_BAND = ("model-slow", "model", "model-fast")
HOST_SPEED_LABEL = "host speed (faster than any chip)"
# One load profile per client behaviour: the same 2016 pacing, only the close differs.
PROFILES = {
    CLOSE_AFTER_HEADERS.name: "seed-2016",
    CLOSE_AFTER_HEADERS_UNREAD.name: "seed-2016-headers-unread",
    READ_UNTIL_CLOSE.name: "seed-2016-read-until-close",
}
OBSERVED = tuple(rules.RULES)  # "3".."7": the observations every hypothesis is judged on


@dataclass(frozen=True)
class Hypothesis:
    app: str
    client: str  # a closebench.load.behaviours name
    speed: str  # a DEVICE_SPEEDS name

    @property
    def label(self) -> str:
        speed = HOST_SPEED_LABEL if self.speed == "host" else self.speed
        return f"app {self.app} · client {self.client} · {speed}"

    @property
    def profile(self) -> str:
        return PROFILES[self.client]


def speed_axis(device_speed: str, variant: Variant | None = None) -> list[str]:
    """The band names the bench defines, or the host's speed when asked for. An end of the
    band that puts `variant` on the same chip as the model (its [timing] interval ends at the
    model) is measured once, as the model (same_as_model)."""
    if device_speed == "host":
        return ["host"]
    same = same_as_model(variant) if variant is not None else []
    return [s for s in SPEED_BAND if s in DEVICE_SPEEDS and s not in same]


def same_as_model(variant: Variant) -> list[str]:
    """The band's ends at which the variant's device runs exactly as at the model."""
    return ends_at_model(variant.timing.band_dict()) if variant.timing else []


def ends_at_model(band: dict[str, dict[str, Any]]) -> list[str]:
    """From a [timing] band record (half -> event -> {"us": [low, model, high]}): the ends
    whose every figure is the model's ("model-fast" takes the lows, "model-slow" the highs)."""
    figures = [f["us"] for half in band.values() for f in half.values()]
    fast = all(us[0] == us[1] for us in figures)
    slow = all(us[2] == us[1] for us in figures)
    return [s for s, same in (("model-slow", slow), ("model-fast", fast)) if same]


def hypotheses(variant: Variant, speeds: list[str]) -> list[Hypothesis]:
    apps = [a.name for a in sorted(variant.apps, key=lambda a: not a.default)]
    return [Hypothesis(a, c, s) for s in speeds for a in apps for c in BEHAVIOURS]


def variant_for(variant: Variant, app: str, speed: str) -> Variant:
    """The variant serving `app` at `speed`, named so two hypotheses are two cells of a run:
    `<variant>+<app>`, plus `+<speed>` off the model."""
    v = variant.with_app(app, label=True).with_device_speed(speed)
    if speed != "model":
        v = dataclasses.replace(v, name=f"{v.name}{APP_SEP}{speed}")
    return v


def conclusion(verdicts: dict[str, str]) -> dict[str, Any]:
    """'consistent with all observations', or the observations that rule it out."""
    if all(verdicts.get(k) == rules.NOT_MEASURED for k in OBSERVED):
        return {"consistent": False, "ruled_out_by": [], "partly": [],
                "text": "not measured: no cell of this hypothesis completed"}  # fmt: skip
    ruled_out = [k for k in OBSERVED if verdicts.get(k) == rules.NOT]
    partly = [k for k in OBSERVED if verdicts.get(k) == rules.PARTLY]
    if not ruled_out and not partly:
        text = "consistent with all observations"
    elif ruled_out:
        text = "ruled out by observation " + ", ".join(ruled_out)
        text += f" (partly: {', '.join(partly)})" if partly else ""
    else:
        text = "not ruled out; partly reproduces " + ", ".join(partly)
    return {"consistent": not ruled_out and not partly, "ruled_out_by": ruled_out,
            "partly": partly, "text": text}  # fmt: skip


def band_view(rows: list[dict[str, Any]], same: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Per app x client: each observation's verdict at the band's ends and the model, and
    whether it moves inside the band (timing-sensitive, with both values). `same`: the ends
    that are the model itself (same_as_model), which take the model's verdicts."""
    out = []
    pairs = sorted({(r["app"], r["client"]) for r in rows})
    for app, client in pairs:
        ran = {r["speed"]: r["verdicts"] for r in rows if (r["app"], r["client"]) == (app, client)}
        at = {**ran, **{s: ran["model"] for s in same if "model" in ran}}
        measured = [s for s in SPEED_BAND if s in at]
        per_obs = {}
        for key in OBSERVED:
            values = {s: at[s].get(key) for s in measured}
            judged = {v for v in values.values() if v != rules.NOT_MEASURED}
            moves = len(judged) > 1
            per_obs[key] = {
                "at": values,
                "timing_sensitive": moves,
                "text": (
                    "timing-sensitive: "
                    + ", ".join(f"{v} at {s}" for s, v in values.items() if s != "model")
                    if moves
                    else (next(iter(values.values())) if values else "not measured")
                ),
            }
        out.append({
            "app": app, "client": client, "speeds_measured": measured,
            "speeds_missing": [s for s in SPEED_BAND if s not in at],
            "speeds_same_as_model": [s for s in same if s in at and s not in ran],
            "observations": per_obs,
        })  # fmt: skip
    return out
