"""The chip's speed (issue 14): [timing] manifests, the device flag, ceilings, the CLI flag."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest
from conftest import broken_manifest

from closebench.commands import bench as bench_command
from closebench.commands import probe as probe_command
from closebench.commands import run as run_command
from closebench.errors import UserError
from closebench.paths import variants_dir
from closebench.variants.manifest import load_variant, load_variant_file, load_variants
from closebench.variants.timing import EVENTS, NOMINAL_CONNECTION

LWIP_VARIANTS = [v for v in load_variants() if v.kind == "lwip"]


def test_every_lwip_variant_has_a_model_with_sources_or_assumptions() -> None:
    for variant in LWIP_VARIANTS:
        timing = variant.timing
        assert timing is not None, variant.name
        assert set(timing.costs) == set(EVENTS)
        assert timing.assumptions, variant.name  # the split of the costs is always assumed
        assert any("ASSUMPTION" in a for a in timing.assumptions), variant.name
        for source in timing.sources:
            assert source.where and source.measured and source.on and source.used_for
        assert 0 < timing.ceiling_per_s() < 10_000  # milliseconds per connection, not us
    assert load_variant("linux-reference").timing is None


def test_device_flag_renders_the_model_only_at_model_speed() -> None:
    nodemcu = load_variant("nodemcu-2016")
    assert "--cpu" not in nodemcu.device_args()  # a loaded variant is at host speed
    modelled = nodemcu.with_device_speed("model").device_args()
    spec = modelled[modelled.index("--cpu") + 1]
    costs = nodemcu.timing.costs if nodemcu.timing else {}
    pairs = ",".join(f"{ev}={costs[ev][0]}:{costs[ev][1]}" for ev in EVENTS)
    assert spec == f"{pairs},tick_ms=125,queue=8"
    assert nodemcu.with_device_speed("model").with_device_speed("host").device_args() == (
        nodemcu.device_args()
    )
    # the exact build keeps the model: only the emulations its own code does are switched off
    exact = nodemcu.with_device_speed("model").as_exact().device_args()
    assert "--cpu" in exact and exact[exact.index("--admission") + 1] == "none"
    # the Linux reference is the host's kernel: host speed whatever is asked
    linux = load_variant("linux-reference")
    assert linux.with_device_speed("model") is linux
    with pytest.raises(UserError, match="--device-speed 'fast'"):
        nodemcu.with_device_speed("fast")


def test_ceiling_is_the_nominal_connection() -> None:
    timing = load_variant("micropython-esp8266").timing
    assert timing is not None
    per = sum(
        frames * timing.costs[ev][0] + app * timing.costs[ev][1]
        for ev, (frames, app) in NOMINAL_CONNECTION.items()
    )
    assert timing.connection_us() == per
    timer = sum(timing.costs["timer"]) / (timing.tick_ms * 1000)
    assert timing.ceiling_per_s() == pytest.approx((1 - timer) * 1e6 / per)
    record = timing.as_dict()
    assert record["device_args"] == ["--cpu", timing.device_spec()]
    assert record["ceiling_conn_per_s"] == round(timing.ceiling_per_s(), 1)


BROKEN = [
    ("missing event", "nodemcu-2016", "send = [19, 0]\n", "", "timing.send: missing"),
    ("not a pair", "nodemcu-2016", "send = [19, 0]", "send = [200]", "timing.send: must be"),
    ("negative", "nodemcu-2016", "send = [19, 0]", "send = [-1, 100]", "timing.send: must be"),
    ("float", "nodemcu-2016", "send = [19, 0]", "send = [2.5, 100]", "timing.send: must be"),
    ("unknown field", "nodemcu-2016", "queue = 8\n", "queue = 8\nspeed = 1\n",
     "timing.speed: unknown field"),
    ("queue 0", "nodemcu-2016", "queue = 8\n", "queue = 0\n", "timing.queue: must be in"),
    ("tick type", "nodemcu-2016", "tick_ms = 125", 'tick_ms = "125"', "timing.tick_ms: must be"),
    ("no assumptions", "esp-idf-5.3", "assumptions = [", "assumptions_x = [",
     "timing.assumptions: missing"),
    ("source field", "esp-idf-5.3", 'on = "ESP32', 'at = "ESP32', "timing.sources[0].on: missing"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("why", "name", "old", "new", "message"), BROKEN, ids=[b[0] for b in BROKEN]
)
def test_broken_timing_names_file_and_field(
    tmp_path: Path, why: str, name: str, old: str, new: str, message: str
) -> None:
    manifest = broken_manifest(tmp_path, name, old, new)
    with pytest.raises(UserError) as err:
        load_variant_file(manifest)
    text = str(err.value)
    assert str(manifest) in text and message in text and "\n" not in text, why


def test_timing_on_the_linux_reference_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "linux-reference"
    shutil.copytree(variants_dir() / "linux-reference", folder)
    manifest = folder / "variant.toml"
    nodemcu = (variants_dir() / "nodemcu-2016" / "variant.toml").read_text()
    block = nodemcu[nodemcu.index("[timing]") :]
    manifest.write_text(manifest.read_text() + "\n" + block)
    with pytest.raises(UserError, match=r"timing\.cpu: only lwip-kind variants"):
        load_variant_file(manifest)


def _parse(register, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    register(sub)
    return parser.parse_args(argv)


def test_cli_defaults_model_for_loads_host_for_probes() -> None:
    assert _parse(run_command.register, ["compare"]).device_speed == "model"
    assert _parse(run_command.register, ["run", "--device-speed", "host"]).device_speed == "host"
    assert _parse(bench_command.register, ["bench", "up", "--variant", "x"]).device_speed == "model"
    probe = _parse(probe_command.register, ["probe", "--variant", "x"])
    assert probe.device_speed == "host"
    with pytest.raises(SystemExit):
        _parse(run_command.register, ["run", "--device-speed", "fast"])


@pytest.fixture(scope="module")
def cbdev() -> Path:
    from closebench.bench.device_build import build_device

    return build_device("2.1.3", {}, log=lambda m: None).path


@pytest.mark.parametrize(
    "spec",
    [
        "accept=1",  # an event needs STACK:APP
        "accept=1:",
        "accept=1:-2",
        "queue=0",
        "tick_ms=-1",
        "speed=3",
        "accept",
    ],
)
def test_bad_cpu_spec_is_one_line(cbdev: Path, spec: str) -> None:
    import subprocess

    argv = [str(cbdev), "--tap", "cbt0", "--ip", "198.18.0.2", "--cpu", spec]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cbdev: --cpu: "), lines


def test_cpu_needs_a_stack(cbdev: Path) -> None:
    import subprocess

    argv = [str(cbdev), "--tap", "a", "--bridge-tap", "b", "--cpu", "accept=1:1"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2 and "bridge mode" in proc.stderr


# issue 25: where each figure comes from, and the interval it carries (timing_band.py)
MEASURED_VARIANTS = [v for v in LWIP_VARIANTS if v.chip == "esp8266"]


def test_every_esp8266_stack_figure_is_measured_with_its_interval() -> None:
    for variant in MEASURED_VARIANTS:
        timing = variant.timing
        assert timing is not None and timing.cpi is not None, variant.name
        stack = timing.figures["stack"]
        assert set(stack) == set(EVENTS), variant.name
        for ev, fig in stack.items():
            assert fig.source.startswith("measured: "), (variant.name, ev)
            assert f"--variant {variant.name}" in fig.source, (variant.name, ev)
            assert fig.low <= fig.model <= fig.high and fig.model == timing.costs[ev][0]


def test_the_interval_ends_are_device_speeds() -> None:
    variant = load_variant("nodemcu-2016")
    timing = variant.timing
    assert timing is not None
    stack = timing.figures["stack"]
    specs = {}
    for speed in ("model-fast", "model", "model-slow"):
        args = variant.with_device_speed(speed).device_args()
        specs[speed] = args[args.index("--cpu") + 1]
    slow = timing.at_speed("model-slow")
    assert slow.speed == "model-slow" and slow.as_dict()["speed"] == "model-slow"
    for ev in EVENTS:
        assert slow.costs[ev][0] == stack[ev].high
        assert timing.at_speed("model-fast").costs[ev][0] == stack[ev].low
        assert f"{ev}={stack[ev].high}:" in specs["model-slow"]
    assert specs["model"] == timing.device_spec()
    assert timing.at_speed("model-slow").connection_us() >= timing.connection_us()
    assert _parse(run_command.register, ["run", "--device-speed", "model-slow"]).device_speed


BAND = "[timing.stack.send]\nus = ["
BROKEN_BAND = [
    ("band not a triple", BAND, "[timing.stack.send]\nus = [1, ", "timing.stack.send.us: must be"),
    ("band source prefix", 'source = "measured: ', 'source = "about ',
     "timing.stack.accept.source: must start with"),
    ("no cpi", "[timing.cpi]", "[timing.cpu_x]", "timing.cpu_x: unknown field"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("why", "old", "new", "message"), BROKEN_BAND, ids=[b[0] for b in BROKEN_BAND]
)
def test_broken_band_names_file_and_field(
    tmp_path: Path, why: str, old: str, new: str, message: str
) -> None:
    manifest = broken_manifest(tmp_path, "nodemcu-2016", old, new)
    with pytest.raises(UserError) as err:
        load_variant_file(manifest)
    text = str(err.value)
    assert str(manifest) in text and message in text and "\n" not in text, why


def test_a_band_whose_model_differs_from_the_pair_is_refused(tmp_path: Path) -> None:
    variant = load_variant("nodemcu-2016")
    assert variant.timing is not None
    stack = variant.timing.figures["stack"]["timer"]
    old = f"timer = [{stack.model}, "
    manifest = broken_manifest(tmp_path, "nodemcu-2016", old, f"timer = [{stack.model + 1}, ")
    with pytest.raises(UserError, match=r"timing\.stack\.timer\.us: model .* differs"):
        load_variant_file(manifest)
