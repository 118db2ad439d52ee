"""The load shape of a profile with a [ramp] table: steps of users until the device breaks.

What the steps found is read afterwards from requests.csv (closebench.load.ramp).
"""

from __future__ import annotations

import time

from locust import LoadTestShape
from locust.runners import MasterRunner

from closebench.load.locust_listeners import RUN
from closebench.load.worker_messages import ask_for_last_rows

RAMP_GRACE_S = 2.0  # a ramp that found its answer lets requests in flight finish


class StepRampShape(LoadTestShape):
    """Add step_users every step_s until a step fails or the ceiling has run one step."""

    abstract = True  # a locustfile's subclass is the shape locust plays

    def __init__(self) -> None:
        super().__init__()
        self.step_start = (0, 0)  # (requests, failures) at the start of this step
        self.step = 0
        self.stop_at: float | None = None
        self.users = RUN.profile.users

    def _stop(self, run_time: float) -> tuple[int, float] | None:
        # Stop starting requests first and end the shape a little later, so no request
        # is cut off after its SYN (connections in the capture == requests made).
        if self.stop_at is None:
            RUN.stop_starting(time.monotonic())
            self.stop_at = run_time + RAMP_GRACE_S
            if isinstance(self.runner, MasterRunner):
                ask_for_last_rows(self.runner)  # their users stop starting too
        return None if run_time >= self.stop_at else (self.users, RUN.profile.spawn_rate)

    def tick(self) -> tuple[int, float] | None:
        profile, ramp = RUN.profile, RUN.profile.ramp
        assert ramp is not None, "a StepRampShape plays only a profile with a [ramp]"
        run_time = self.get_run_time()
        if self.stop_at is not None or run_time >= RUN.run_time_s:
            return self._stop(run_time)
        step = int(run_time // ramp.step_s)
        if step != self.step:
            total = self.runner.stats.total
            done = total.num_requests - self.step_start[0]
            failed = total.num_failures - self.step_start[1]
            if done and failed / done > ramp.stop_fail_ratio:
                return self._stop(run_time)  # the previous step saw failures: the answer
            users_then = profile.users + self.step * ramp.step_users
            if users_then >= ramp.max_users:
                return self._stop(run_time)  # the ceiling ran a full step without failing
            self.step = step
            self.step_start = (total.num_requests, total.num_failures)
        self.users = min(profile.users + step * ramp.step_users, ramp.max_users)
        return self.users, profile.spawn_rate
