"""The laptop's side of the bench: users that open one new TCP connection per request.

Played by `closebench.load.locust_command`, which passes the load profile in the environment
(closebench.load.run_state names the variables). The machinery stays in closebench.load and
comes with the users' base class: the request log, the end of the run at its run time or
budget, the final stats and exit code, the messages of a distributed run.
"""

from locust import task

from closebench.load.locust_listeners import RUN
from closebench.load.locust_users import ClosePerRequestUser, profile_pacing
from closebench.load.shapes import StepRampShape


class SeedUser(ClosePerRequestUser):
    """The 2016 test's laptop: the profile's request (`HEAD /`) on a new connection, paced."""

    wait_time = profile_pacing  # the profile's interval, or its phase's at this moment

    @task
    def request_next_path(self) -> None:
        self.request(next(self.paths))


class LedToggleUser(SeedUser):
    """The same user; its profile's paths (`/?led=on`, `/?led=off`) toggle the device's LED."""


class StepRamp(StepRampShape):
    """Add step_users every step_s until a step fails or the ceiling has run one step."""

    # locust plays the first shape in the locustfile: only a profile with a [ramp] has one
    abstract = RUN.profile.ramp is None
