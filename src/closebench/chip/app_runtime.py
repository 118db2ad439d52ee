"""The apps' runtimes on the lx106: a firmware's own interpreter running the variant's app.

firmware_variants/chip/apps/ builds the interpreter from the firmware's source archive (NodeMCU's
Lua 5.1 from app/lua at the pinned commit) with recording stubs of the firmware's network API,
loads the variant's app file (init.lua) and drives it as the firmware's net module drives it:
accept, receive (one request, the load's own bytes), sent, disconnected, timer. Each event's
instructions are counted by the core's ICOUNT register (Xtensa Debug Option: incremented per
executed instruction while ICOUNTLEVEL is above the interrupt level), which QEMU implements
for the lx106; a stub's own recording is left out by restoring ICOUNT after it.

`measure_app(variant)` returns the counts; `app_costs_us` turns them into [timing]'s app
microseconds with a cycles-per-instruction figure (the stack's CPI citation).
"""

from __future__ import annotations

import lzma
import statistics
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from closebench.bench import exact_source
from closebench.bench.netsetup import DEVICE_IP
from closebench.chip.build import chip_source_dir
from closebench.chip.toolchain import Toolchain
from closebench.errors import UserError
from closebench.load.client import build_request
from closebench.paths import cache_dir, variants_dir
from closebench.tomlfile import read_toml

APPS_FILE = "apps.toml"
# Debian's gcc-12-source ships GCC's source; its libgcc/config/xtensa holds lib1funcs.S.
GCC_SOURCE_GLOB = "gcc-*/gcc-*.tar.xz"
GCC_SOURCE_ROOT = Path("/usr/src")
GCC_XTENSA_MEMBER = "libgcc/config/xtensa/"
QEMU_ARGS = ("-M", "sim", "-cpu", "lx106", "-semihosting")
QUIET = ("-display", "none", "-monitor", "none", "-serial", "none")
# The load's request (profiles.py default: HEAD /), as the bench's client sends it.
REQUEST = build_request("HEAD", DEVICE_IP, "/")
# [timing]'s events (firmware_variants/device/main.c: accept with the SYN-ACK, receive with a
# data frame, send with a data frame, close with a FIN or RST, timer per tick); apps.toml says
# which driver events make up each one's app part.
TIMING_EVENTS = ("accept", "receive", "send", "close", "timer")


@dataclass(frozen=True)
class AppSpec:
    variant: str
    target: str
    tree: str  # the make variable that names the unpacked source tree
    app: Path
    note: str
    archives: tuple[exact_source.Archive, ...]
    events: dict[str, tuple[str, ...]]  # [timing] event -> driver events


@dataclass
class AppMeasurement:
    variant: str
    events: dict[str, list[int]] = field(default_factory=dict)  # driver event -> counts
    calls: list[str] = field(default_factory=list)  # stubbed API calls, in order
    command: str = ""
    parts: dict[str, tuple[str, ...]] = field(default_factory=dict)  # as AppSpec.events

    def median(self, event: str) -> int:
        counts = self.events.get(event) or [0]
        return int(statistics.median(counts))

    def mean(self, event: str) -> float:
        counts = self.events.get(event) or [0]
        return statistics.fmean(counts)

    def timing_instructions(self) -> dict[str, int]:
        """[timing] event -> mean instructions of the app's part (sum of its driver events).
        Means, as the stack's figures (chip/measure.py): the device program charges one fixed
        cost per event, so the mean keeps the total core time."""
        return {
            ev: round(sum(self.mean(d) for d in self.parts.get(ev, ()))) for ev in TIMING_EVENTS
        }


def apps_dir() -> Path:
    return chip_source_dir() / "apps"


def load_app_specs() -> dict[str, AppSpec]:
    data = read_toml(apps_dir() / APPS_FILE, "app interpreters")
    specs = {}
    for name, item in data.items():
        archives = tuple(
            exact_source.Archive(
                repo=a["repo"],
                commit=a["commit"],
                paths=tuple(a["paths"]),
                tree_sha256=a["tree_sha256"],
            )
            for a in item["archives"]
        )
        specs[name] = AppSpec(
            variant=name,
            target=item["target"],
            tree=item["tree"],
            app=variants_dir() / name / item["app"],
            note=item.get("note", ""),
            archives=archives,
            events={ev: tuple(item["events"].get(ev, ())) for ev in TIMING_EVENTS},
        )
    return specs


def app_spec(variant: str) -> AppSpec:
    specs = load_app_specs()
    if variant not in specs:
        known = ", ".join(sorted(specs))
        raise UserError(f"{apps_dir() / APPS_FILE}: no interpreter for {variant} (have {known})")
    return specs[variant]


def find_gcc_source() -> Path | None:
    found = sorted(GCC_SOURCE_ROOT.glob(GCC_SOURCE_GLOB))
    return found[-1] if found else None


def gcc_xtensa_dir() -> Path:
    """libgcc/config/xtensa of GCC's source, unpacked once into the cache."""
    source = find_gcc_source()
    if source is None:
        raise UserError(
            f"GCC's source not found as {GCC_SOURCE_ROOT}/{GCC_SOURCE_GLOB}; install gcc-12-source "
            "(./dev does): Debian's libgcc for lx106 lacks division and soft-float helpers"
        )
    dest = cache_dir() / "chip" / "gcc-xtensa" / source.stem
    if (dest / "lib1funcs.S").is_file():
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    with lzma.open(source) as xz, tarfile.open(fileobj=xz, mode="r|") as tar:
        for member in tar:
            _, _, rel = member.name.partition("/")
            if rel.startswith(GCC_XTENSA_MEMBER) and member.isfile():
                member.name = rel[len(GCC_XTENSA_MEMBER) :]
                tar.extract(member, tmp, filter="data")
    tmp.replace(dest)
    return dest


def build_app(tools: Toolchain, spec: AppSpec, app: Path | None = None) -> Path:
    """The interpreter ELF with the app inside (make in firmware_variants/chip/apps); APP
    replaces the variant's app file (another script on the same interpreter)."""
    app = app or spec.app
    if not app.is_file():
        raise UserError(f"{app}: the app file is missing")
    trees = [exact_source.unpack(a) for a in spec.archives]
    out = cache_dir() / "chip" / "apps" / spec.variant / ("own-app" if app == spec.app else "app")
    out.mkdir(parents=True, exist_ok=True)
    request = out / "request.txt"
    request.write_bytes(REQUEST)
    make = [
        "make",
        "-s",
        "-C",
        str(apps_dir()),
        f"OUT={out}",
        f"CC={tools.gcc}",
        f"PICOLIBC_SPECS={tools.picolibc_specs}",
        f"GCC_XTENSA={gcc_xtensa_dir()}",
        f"{spec.tree}={trees[0]}",
        f"APP_SCRIPT={app.resolve()}",
        f"APP_REQUEST={request}",
        spec.target,
    ]
    done = subprocess.run(make, capture_output=True, text=True, check=False)
    if done.returncode:
        errors = [ln for ln in done.stderr.splitlines() if "error" in ln or "undefined" in ln]
        raise UserError(f"{spec.variant}: app build failed: {' | '.join(errors[:4])}")
    return out / f"{spec.target}.elf"


def parse_output(variant: str, text: str) -> AppMeasurement:
    result = AppMeasurement(variant=variant)
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "event":
            name, _, count = rest.rpartition(" ")
            result.events.setdefault(name, []).append(int(count))
        elif kind == "call":
            result.calls.append(rest)
        elif kind == "error":
            raise UserError(f"{variant}: the app failed on the lx106: {rest}")
    if "done" not in text.splitlines():
        raise UserError(f"{variant}: the app run ended early: {text.strip()[-200:]}")
    return result


def run_app(tools: Toolchain, spec: AppSpec, elf: Path, timeout_s: float = 300.0) -> AppMeasurement:
    cmd = [str(tools.qemu), *QEMU_ARGS, *QUIET, "-kernel", str(elf)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise UserError(f"{elf.name}: still running after {timeout_s:.0f} s under QEMU") from exc
    result = parse_output(spec.variant, done.stdout)
    result.command = f"closebench timing apps --variant {spec.variant}"
    result.parts = spec.events
    return result


def measure_app(tools: Toolchain, variant: str) -> AppMeasurement:
    spec = app_spec(variant)
    return run_app(tools, spec, build_app(tools, spec))


def instructions_to_us(instructions: int, cpi: float, mhz: float = 80.0) -> float:
    """Microseconds of INSTRUCTIONS at CPI cycles per instruction on a MHZ clock."""
    return instructions * cpi / mhz


def app_costs_us(measurement: AppMeasurement, cpi: float, mhz: float = 80.0) -> dict[str, int]:
    """[timing] event -> the app's microseconds (rounded) from the measured means."""
    return {
        ev: round(instructions_to_us(n, cpi, mhz))
        for ev, n in measurement.timing_instructions().items()
    }
