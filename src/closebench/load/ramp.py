"""What a ramp found: the device's breaking point, or the harness's ceiling.

A ramp steps the offered rate up (load profile `[ramp]`). Per step, from requests.csv: the
offered rate (users / pacing), the achieved rate, the failures and the latencies. The device
breaks at the first step where requests fail, or where it delivers clearly less than offered
because its answers got slow: users pace at a fixed interval, so the time a request takes
beyond the interval is time its user sends nothing (on a modelled chip: a frame dropped at the
core's queue costs a 1 s SYN retransmission). When that lost time explains the shortfall, the
device is the limit. When a step delivers less *without* failures and without slow answers,
the clients themselves could not keep up: that rate belongs to the harness, and the result
says "harness-limited at N conn/s" instead of reporting a breaking point.
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path
from typing import Any

from closebench.load.profiles import LoadProfile

SHORTFALL = 0.85  # achieved < 85 % of offered: someone could not keep up
# ... the device, when requests that outran the pacing interval cost the users at least this
# share of the missing requests (the rest is then not enough to blame the clients).
EXPLAINED = 0.5


def _rows(requests_csv: Path) -> list[tuple[float, bool, float]]:
    with requests_csv.open() as fh:
        return [
            (float(r["start_epoch_s"]), r["ok"] == "1", float(r.get("latency_ms") or 0.0))
            for r in csv.DictReader(fh)
        ]


def ramp_summary(requests_csv: Path, profile: LoadProfile) -> dict[str, Any] | None:
    ramp = profile.ramp
    if ramp is None or not requests_csv.exists():
        return None
    rows = _rows(requests_csv)
    if not rows:
        return {"steps": [], "verdict": "no requests"}
    t0 = min(t for t, _, _ in rows)
    steps: dict[int, list[tuple[bool, float]]] = {}
    for t, ok, latency in rows:
        steps.setdefault(int((t - t0) // ramp.step_s), []).append((ok, latency))
    out: list[dict[str, Any]] = []
    verdict = f"no breaking point up to {ramp.max_users} users"
    for index in sorted(steps):
        reqs = steps[index]
        users = min(profile.users + index * ramp.step_users, ramp.max_users)
        offered = users / profile.interval_s
        achieved = len(reqs) / ramp.step_s
        failed = sum(1 for ok, _ in reqs if not ok)
        lats = sorted(lat for _, lat in reqs)
        # user time spent waiting beyond the pacing interval: requests not sent meanwhile
        lost_s = sum(max(0.0, lat / 1000 - profile.interval_s) for lat in lats)
        lost_share = lost_s / (users * ramp.step_s)
        out.append({"step": index, "users": users, "offered_rps": round(offered, 1),
                    "achieved_rps": round(achieved, 1), "failed": failed,
                    "median_latency_ms": round(statistics.median(lats), 1),
                    "p99_latency_ms": round(lats[min(len(lats) - 1, int(len(lats) * 0.99))], 1),
                    "slow_time_share": round(lost_share, 3)})  # fmt: skip
        if failed / len(reqs) > ramp.stop_fail_ratio:
            verdict = f"breaking point at ~{achieved:.0f} conn/s ({failed} of {len(reqs)} failed)"
            break
        if achieved < SHORTFALL * offered and index < max(steps):
            if lost_share >= EXPLAINED * (1 - achieved / offered):
                verdict = (
                    f"breaking point at ~{achieved:.0f} conn/s (device saturated: offered "
                    f"{offered:.0f}; slow answers took {lost_share:.0%} of the users' time, "
                    f"p99 {out[-1]['p99_latency_ms']:.0f} ms)"
                )
            else:
                verdict = f"harness-limited at {achieved:.0f} conn/s (offered {offered:.0f})"
            break
    return {"steps": out, "verdict": verdict}
