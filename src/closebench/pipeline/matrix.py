"""The matrix of a run: which variants, load profiles, links and repetitions, and its defaults.

`make_matrix` turns names (or variants made at other commits) into a `Matrix`; `Matrix.cells`
lists its cells in the order they run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from closebench.bench.links import LinkProfile, load_link
from closebench.errors import UserError
from closebench.load.profiles import LoadProfile, load_profile
from closebench.pipeline.cell import CellPlan
from closebench.variants.manifest import Variant, load_variants

DEFAULT_VARIANTS = None  # all of them
DEFAULT_PROFILES = ("seed-1s", "seed-200ms")  # the original test: HEAD every 1 s, then 0.2 s
DEFAULT_LINKS = ("ideal", "wifi-lossy")
DEFAULT_RUN_TIME_S = 60.0
# The longest TIME_WAIT among the variants is 2*MSL = 120 s (lwIP default MSL 60 s): a
# cooldown past it shows the whole after-load exchange, including SYNs meeting TIME_WAIT.
DEFAULT_COOLDOWN_S = 130.0
QUICK_RUN_TIME_S = 10.0
QUICK_COOLDOWN_S = 12.0
# Probes watch long timers this long, then report lower bounds (TIME_WAIT 120 s >= 70 s).
VERIFY_OBSERVE_S = 70.0
QUICK_VERIFY_OBSERVE_S = 15.0
LIGHT_RATE = 20.0  # req/s per cell under which cells may share the machine
MAX_JOBS = 16


@dataclass(frozen=True)
class Matrix:
    variants: list[Variant]
    profiles: list[LoadProfile]
    links: list[LinkProfile]
    repetitions: int
    lwip: list[str] | None
    run_time_s: float
    cooldown_s: float
    source_mode: str = "auto"  # exact source where present (see bench/variant_build.py)
    until_quiet: bool = False  # cooldown until both stacks are quiet, at most cooldown_s
    trace_tx: bool = False  # the device logs which source line sent each packet (seed study)

    def cells(self) -> list[CellPlan]:
        axis = bool(self.lwip) and len(self.lwip or []) > 1
        plans = []
        for variant in self.variants:
            releases: list[str | None] = [None]
            if variant.kind == "lwip":
                releases = list(self.lwip or [variant.emulation.lwip])
            for release in releases:
                v = variant.with_lwip(release) if release and variant.kind == "lwip" else variant
                for profile in self.profiles:
                    for link in self.links:
                        for rep in range(1, self.repetitions + 1):
                            plans.append(
                                CellPlan(
                                    v,
                                    profile,
                                    link,
                                    rep,
                                    release,
                                    self.run_time_s,
                                    self.cooldown_s,
                                    axis,
                                    self.until_quiet,
                                    self.trace_tx,
                                )
                            )
        return plans


def make_matrix(
    variants: Sequence[str] | None,
    profiles: Sequence[str],
    links: Sequence[str],
    repetitions: int = 1,
    lwip: Sequence[str] | None = None,
    quick: bool = False,
    run_time_s: float | None = None,
    cooldown_s: float | None = None,
    source_mode: str = "auto",
    variant_list: Sequence[Variant] | None = None,
    device_speed: str | Mapping[str, str] = "model",
    app: str | Mapping[str, str] | None = None,
) -> Matrix:
    """variant_list, when given, replaces loading `variants` by name (--source-ref and
    --releases make variants at other commits of their source). device_speed: "model" (each
    lwIP variant on its modelled core, the default of every run since issue 14), "host", or
    one of them per variant name (a regress re-run takes each variant's from its baseline)."""
    if repetitions < 1:
        raise UserError("--repetitions must be at least 1")
    if lwip:
        from closebench.bench.lwip_source import SUPPORTED

        for release in lwip:
            if release not in SUPPORTED:
                raise UserError(
                    f"--lwip {release}: not buildable here (known: {', '.join(SUPPORTED)})"
                )
    chosen = list(variant_list) if variant_list is not None else load_variants(variants)
    if isinstance(app, str):
        chosen = with_app(chosen, app)
    elif app:  # one per variant name (a regress re-run takes each variant's from its baseline)
        chosen = [v.with_app(app[v.name]) if v.name in app else v for v in chosen]
    return Matrix(
        variants=[v.with_device_speed(_speed_of(v, device_speed)) for v in chosen],
        profiles=[load_profile(p) for p in profiles],
        links=[load_link(name) for name in links],
        repetitions=repetitions,
        lwip=list(lwip) if lwip else None,
        run_time_s=run_time_s or (QUICK_RUN_TIME_S if quick else DEFAULT_RUN_TIME_S),
        cooldown_s=cooldown_s
        if cooldown_s is not None
        else (QUICK_COOLDOWN_S if quick else DEFAULT_COOLDOWN_S),
        # the release axis is defined on Debian's lwIP releases: approximations only
        source_mode="approximation" if lwip else source_mode,
    )


def with_app(variants: list[Variant], app: str) -> list[Variant]:
    """--app NAME: every variant that names apps serves this one (variants without [[apps]]
    serve their only page); at least one must name it."""
    named = [v for v in variants if v.apps]
    if not any(a.name == app for v in named for a in v.apps):
        with_apps = ", ".join(f"{v.name}: {'/'.join(a.name for a in v.apps)}" for v in named)
        raise UserError(f"--app {app}: no chosen variant names it ({with_apps or 'none has apps'})")
    return [v.with_app(app) if v.apps else v for v in variants]


def _speed_of(variant: Variant, device_speed: str | Mapping[str, str]) -> str:
    return device_speed if isinstance(device_speed, str) else device_speed[variant.name]


def auto_jobs(matrix: Matrix) -> int:
    """Light profiles (the seed's 1-5 req/s) may share the 2 cores; heavy ones run alone."""
    if any(p.nominal_rate() > LIGHT_RATE for p in matrix.profiles):
        return 1
    return max(1, min(MAX_JOBS, len(matrix.cells())))


def wall_estimate_s(matrix: Matrix, jobs: int) -> float:
    cells = len(matrix.cells())
    waves = -(-cells // jobs)
    return waves * (matrix.run_time_s + matrix.cooldown_s + 8)
