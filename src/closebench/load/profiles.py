"""Load profiles, declared as data: their fields, parsed and checked.

One TOML file per profile in `benchmarks/profiles/`; the file name is the ID. Fields:

    description = "one line: what this load stands for"
    user_class = "SeedUser"      # a user class of benchmarks/locustfile.py (USER_CLASSES)
    method = "HEAD"              # HEAD or GET
    paths = ["/"]                # each user cycles through these, one request per task
    interval_s = 1.0             # constant pacing per user (> 0): one request per interval
    users = 1                    # concurrent users, 1..2000 (for a ramp: the first step)
    spawn_rate = 1.0             # users started per second (> 0)
    run_time_s = 60              # default length of the load phase, (0, 3600]
    max_requests = 70            # hard bound on requests over all users and processes

    # optional, with defaults
    connect_timeout_s = 5.0      # a SYN unanswered this long is a `connect_timeout`
    timeout_s = 10.0             # a response not complete this long is a `timeout`
    client_close = "after_response"  # or "after_eof": wait for the device's FIN first, or
                                     # "after_headers_unread": read the headers only, close
                                     # (closebench.load.behaviours names each)

    # phases: the pacing changes during one continuous run (the original test: every 1 s,
    # then every 0.2 s). Each phase has its own interval_s and run_time_s; the phases' run
    # times add up to run_time_s, and interval_s above must equal the first phase's.
    [[phases]]
    interval_s = 1.0
    run_time_s = 60

    # a ramp (locust LoadTestShape `StepRamp`) when the [ramp] table is present
    [ramp]
    step_s = 10                  # seconds per step
    step_users = 10              # users added per step
    max_users = 200              # ceiling, <= 2000: held for one step, then the load stops
    stop_fail_ratio = 0.0        # stop after a step whose failure ratio exceeds this

Every request is one new TCP connection (connect, send, read the response, close), as in
the original ESP8266 test; the protocol client is `closebench.load.client.run_request`, run
by the locust users on gevent's loop (`closebench.load.green_client`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from closebench.errors import UserError, where
from closebench.paths import benchmarks_dir, named_toml, toml_names
from closebench.tomlfile import parse_toml, read_toml

# The user classes benchmarks/locustfile.py defines; kept here so a profile can be
# validated without importing locust (which monkey-patches the whole process with gevent).
USER_CLASSES = ("SeedUser", "LedToggleUser")
METHODS = ("HEAD", "GET")
CLIENT_CLOSE = ("after_response", "after_eof", "after_headers_unread")
MAX_USERS = 2000
MAX_RUN_TIME_S = 3600.0
MAX_REQUESTS = 10_000_000

REQUIRED = (
    "description",
    "user_class",
    "method",
    "paths",
    "interval_s",
    "users",
    "spawn_rate",
    "run_time_s",
    "max_requests",
)
OPTIONAL = ("connect_timeout_s", "timeout_s", "client_close", "ramp", "phases")
RAMP_FIELDS = ("step_s", "step_users", "max_users", "stop_fail_ratio")
PHASE_FIELDS = ("interval_s", "run_time_s")


def profiles_dir() -> Path:
    return benchmarks_dir() / "profiles"


@dataclass(frozen=True)
class Ramp:
    step_s: float
    step_users: int
    max_users: int
    stop_fail_ratio: float = 0.0


@dataclass(frozen=True)
class Phase:
    interval_s: float
    run_time_s: float


@dataclass(frozen=True)
class LoadProfile:
    name: str
    path: Path
    description: str
    user_class: str
    method: str
    paths: tuple[str, ...]
    interval_s: float
    users: int
    spawn_rate: float
    run_time_s: float
    max_requests: int
    connect_timeout_s: float = 5.0
    timeout_s: float = 10.0
    client_close: str = "after_response"
    ramp: Ramp | None = None
    phases: tuple[Phase, ...] = ()

    @property
    def longest_request_s(self) -> float:
        """The longest one request can take: its connect timeout plus its response timeout."""
        return self.connect_timeout_s + self.timeout_s

    def nominal_rate(self) -> float:
        """Requests per second the profile asks for at its peak (pacing per user)."""
        users = self.ramp.max_users if self.ramp else self.users
        fastest = min([self.interval_s, *(p.interval_s for p in self.phases)])
        return users / fastest

    def interval_at(self, elapsed_s: float, run_time_s: float | None = None) -> float:
        """The pacing `elapsed_s` into the run; phases stretch to a shorter/longer run."""
        if not self.phases:
            return self.interval_s
        scale = (run_time_s or self.run_time_s) / self.run_time_s
        end = 0.0
        for phase in self.phases:
            end += phase.run_time_s * scale
            if elapsed_s < end:
                return phase.interval_s
        return self.phases[-1].interval_s

    def phase_bounds(self, run_time_s: float | None = None) -> list[tuple[float, float, float]]:
        """(start_s, end_s, interval_s) of each phase, from the start of the load."""
        if not self.phases:
            return [(0.0, run_time_s or self.run_time_s, self.interval_s)]
        scale = (run_time_s or self.run_time_s) / self.run_time_s
        out, start = [], 0.0
        for phase in self.phases:
            out.append((start, start + phase.run_time_s * scale, phase.interval_s))
            start += phase.run_time_s * scale
        return out

    def as_dict(self) -> dict[str, Any]:
        """The definition as loaded, for the run manifest."""
        data = asdict(self)
        data["path"] = str(self.path)
        data["paths"] = list(self.paths)
        data["phases"] = [asdict(p) for p in self.phases]
        return data


# --- validation -------------------------------------------------------------------------


def _num(
    path: Path, field: str, value: object, low: float, high: float, *, low_open: bool
) -> float:
    # bool is an int subclass; `users = true` is a typo, not 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"{where(path, field)}: expected a number, got {value!r}")
    number = float(value)
    too_low = number <= low if low_open else number < low
    if too_low or number > high or math.isnan(number):
        bracket = "(" if low_open else "["
        raise UserError(
            f"{where(path, field)}: must be in {bracket}{low:g}, {high:g}], got {value}"
        )
    return number


def _int(path: Path, field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{where(path, field)}: expected an integer, got {value!r}")
    if not low <= value <= high:
        raise UserError(f"{where(path, field)}: must be in [{low}, {high}], got {value}")
    return value


def _choice(path: Path, field: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise UserError(f"{where(path, field)}: unknown {value!r} (known: {', '.join(choices)})")
    return str(value)


def _paths(path: Path, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise UserError(f"{where(path, 'paths')}: expected a non-empty list of URL paths")
    for item in value:
        # The path goes into the request line verbatim: no spaces or control characters.
        if (
            not isinstance(item, str)
            or not item.startswith("/")
            or any(c.isspace() or ord(c) < 32 for c in item)
        ):
            raise UserError(f"{where(path, 'paths')}: not a URL path: {item!r}")
    return tuple(value)


def _ramp(path: Path, value: object) -> Ramp:
    if not isinstance(value, dict):
        raise UserError(f"{where(path, 'ramp')}: expected a table [ramp]")
    unknown = sorted(set(value) - set(RAMP_FIELDS))
    if unknown:
        raise UserError(f"{where(path, f'ramp.{unknown[0]}')}: unknown field")
    for name in RAMP_FIELDS[:3]:
        if name not in value:
            raise UserError(f"{where(path, f'ramp.{name}')}: missing field")
    return Ramp(
        step_s=_num(path, "ramp.step_s", value["step_s"], 0, MAX_RUN_TIME_S, low_open=True),
        step_users=_int(path, "ramp.step_users", value["step_users"], 1, MAX_USERS),
        max_users=_int(path, "ramp.max_users", value["max_users"], 1, MAX_USERS),
        stop_fail_ratio=_num(
            path, "ramp.stop_fail_ratio", value.get("stop_fail_ratio", 0.0), 0, 1, low_open=False
        ),
    )


def _phases(path: Path, value: object, run_time_s: float, interval_s: float) -> tuple[Phase, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise UserError(f"{where(path, 'phases')}: expected one or more [[phases]] tables")
    phases = []
    for i, table in enumerate(value):
        unknown = sorted(set(table) - set(PHASE_FIELDS))
        if unknown:
            raise UserError(f"{where(path, f'phases[{i}].{unknown[0]}')}: unknown field")
        for name in PHASE_FIELDS:
            if name not in table:
                raise UserError(f"{where(path, f'phases[{i}].{name}')}: missing field")
        phases.append(
            Phase(
                interval_s=_num(
                    path, f"phases[{i}].interval_s", table["interval_s"], 0, 3600, low_open=True
                ),
                run_time_s=_num(
                    path,
                    f"phases[{i}].run_time_s",
                    table["run_time_s"],
                    0,
                    MAX_RUN_TIME_S,
                    low_open=True,
                ),
            )
        )
    total = sum(p.run_time_s for p in phases)
    if abs(total - run_time_s) > 1e-6:
        raise UserError(
            f"{where(path, 'phases')}: phase run times add up to {total:g} s, "
            f"run_time_s is {run_time_s:g}"
        )
    if phases[0].interval_s != interval_s:
        raise UserError(f"{where(path, 'interval_s')}: must equal the first phase's interval_s")
    return tuple(phases)


def load_profile_file(path: Path | str) -> LoadProfile:
    """Read and validate one load profile; errors name the file and the field."""
    path = Path(path)
    return profile_from_table(read_toml(path, "load profile file"), path)


def profile_from_text(text: str, path: Path) -> LoadProfile:
    """A profile from its TOML text: what a remote locust worker receives from the master,
    which read it from `path` (named in errors, and the profile's name)."""
    return profile_from_table(parse_toml(text, path), path)


def profile_from_table(data: dict[str, Any], path: Path) -> LoadProfile:
    """Validate a profile's table; errors name `path` and the field."""
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise UserError(f"{where(path, unknown[0])}: unknown field")
    for name in REQUIRED:
        if name not in data:
            raise UserError(f"{where(path, name)}: missing field")
    description = data["description"]
    if not isinstance(description, str) or not description.strip():
        raise UserError(f"{where(path, 'description')}: must be a non-empty string")
    ramp = _ramp(path, data["ramp"]) if "ramp" in data else None
    users = _int(path, "users", data["users"], 1, MAX_USERS)
    if ramp is not None and ramp.max_users < users:
        raise UserError(f"{where(path, 'ramp.max_users')}: below users ({users})")
    interval_s = _num(path, "interval_s", data["interval_s"], 0, 3600, low_open=True)
    run_time_s = _num(path, "run_time_s", data["run_time_s"], 0, MAX_RUN_TIME_S, low_open=True)
    phases = _phases(path, data["phases"], run_time_s, interval_s) if "phases" in data else ()
    if phases and ramp is not None:
        raise UserError(f"{where(path, 'phases')}: a profile has phases or a [ramp], not both")
    return LoadProfile(
        name=path.stem,
        path=path,
        description=description.strip(),
        user_class=_choice(path, "user_class", data["user_class"], USER_CLASSES),
        method=_choice(path, "method", data["method"], METHODS),
        paths=_paths(path, data["paths"]),
        interval_s=interval_s,
        users=users,
        spawn_rate=_num(path, "spawn_rate", data["spawn_rate"], 0, 10_000, low_open=True),
        run_time_s=run_time_s,
        max_requests=_int(path, "max_requests", data["max_requests"], 1, MAX_REQUESTS),
        connect_timeout_s=_num(
            path, "connect_timeout_s", data.get("connect_timeout_s", 5.0), 0, 120, low_open=True
        ),
        timeout_s=_num(path, "timeout_s", data.get("timeout_s", 10.0), 0, 120, low_open=True),
        client_close=_choice(
            path, "client_close", data.get("client_close", "after_response"), CLIENT_CLOSE
        ),
        ramp=ramp,
        phases=phases,
    )


def profile_names() -> tuple[str, ...]:
    return toml_names(profiles_dir())


def load_profile(name: str) -> LoadProfile:
    """The load profile `benchmarks/profiles/<name>.toml`."""
    return load_profile_file(named_toml(profiles_dir(), name, "load profile"))


PROFILE_NAMES: tuple[str, ...] = profile_names()
