"""What a ramp found: the stack's breaking point, or the harness's ceiling.

A ramp steps the offered rate up (load profile `[ramp]`). Per step, from requests.csv: the
offered rate (users / pacing), the achieved rate, and the failures. The step where requests
start failing is the stack's breaking point. But when a step delivers clearly less than it
offered *without* failures, the clients themselves could not keep up (the device answered
everything it was sent): that rate belongs to the harness, and the result says
"harness-limited at N conn/s" instead of reporting a breaking point.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from closebench.load import LoadProfile

SHORTFALL = 0.85  # achieved < 85 % of offered, with no failures: the harness is the limit


def ramp_summary(requests_csv: Path, profile: LoadProfile) -> dict[str, Any] | None:
    ramp = profile.ramp
    if ramp is None or not requests_csv.exists():
        return None
    with requests_csv.open() as fh:
        rows = [(float(r["start_epoch_s"]), r["ok"] == "1") for r in csv.DictReader(fh)]
    if not rows:
        return {"steps": [], "verdict": "no requests"}
    t0 = min(t for t, _ in rows)
    steps: dict[int, list[bool]] = {}
    for t, ok in rows:
        steps.setdefault(int((t - t0) // ramp.step_s), []).append(ok)
    out: list[dict[str, Any]] = []
    verdict = f"no breaking point up to {ramp.max_users} users"
    for index in sorted(steps):
        oks = steps[index]
        users = min(profile.users + index * ramp.step_users, ramp.max_users)
        offered = users / profile.interval_s
        achieved = len(oks) / ramp.step_s
        failed = oks.count(False)
        out.append({"step": index, "users": users, "offered_rps": round(offered, 1),
                    "achieved_rps": round(achieved, 1), "failed": failed})  # fmt: skip
        if failed / len(oks) > ramp.stop_fail_ratio:
            verdict = f"breaking point at ~{achieved:.0f} conn/s ({failed} of {len(oks)} failed)"
            break
        if achieved < SHORTFALL * offered and index < max(steps):
            verdict = f"harness-limited at {achieved:.0f} conn/s (offered {offered:.0f})"
            break
    return {"steps": out, "verdict": verdict}
