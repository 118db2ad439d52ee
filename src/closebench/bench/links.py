"""Link profiles: the emulated Wi-Fi hop between the client and the device, declared as data.

One TOML file per profile in `benchmarks/links/`; the file name is the ID. Fields:

    description = "one line: what this link stands for and where its numbers come from"

    [to_device]          # client -> device (the device program's --link-in)
    delay_ms = 2.0       # one-way base delay, >= 0
    jitter_ms = 1.0      # extra random delay, uniform in [0, jitter_ms], >= 0
    loss = 0.001         # probability a frame is dropped, in [0, 1)
    reorder = 0.0        # probability a frame is sent ahead of the queue, in [0, 1)
    rate_kbps = 20000    # serialization rate, 0 = unlimited
    queue = 256          # frames the link buffers before tail-dropping, >= 1

    # optional: the access point's power-save buffering for a dozing station
    beacon_ms = 102.4    # beacon interval (0 = no buffering, the default)
    dtim = 2             # DTIM period in beacons (default 1): frames wait for the next DTIM

    [from_device]        # device -> client (--link-out), same fields

Every direction field except the two optional power-save ones is required (a link is
explicit, not inherited). The impairment itself
runs in the device program (C), seeded, so the same seed drops the same frames everywhere;
this module only validates the data and renders the spec strings the device takes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from closebench.errors import UserError, where
from closebench.paths import benchmarks_dir, named_toml, toml_names
from closebench.tomlfile import read_toml

DIRECTIONS = ("to_device", "from_device")
# Upper bounds are sanity limits against typos (a 10 s one-way delay is no Wi-Fi hop).
_FLOAT_FIELDS = {"delay_ms": 10_000.0, "jitter_ms": 10_000.0}
_PROB_FIELDS = ("loss", "reorder")
_INT_FIELDS = {"rate_kbps": (0, 10_000_000), "queue": (1, 1_000_000)}
FIELD_ORDER = ("delay_ms", "jitter_ms", "loss", "reorder", "rate_kbps", "queue")
# Optional power-save fields: (default, upper bound). Rendered only when beacon_ms > 0, so
# the spec of every link without them is what it always was.
POWER_SAVE = {"beacon_ms": (0.0, 60_000.0), "dtim": (1, 255)}


def links_dir() -> Path:
    return benchmarks_dir() / "links"


@dataclass(frozen=True)
class Direction:
    delay_ms: float
    jitter_ms: float
    loss: float
    reorder: float
    rate_kbps: int
    queue: int
    beacon_ms: float = 0.0
    dtim: int = 1

    def spec(self) -> str:
        """`delay_ms=5,jitter_ms=2,loss=0.01,reorder=0.005,rate_kbps=20000,queue=256`."""
        names = FIELD_ORDER + (tuple(POWER_SAVE) if self.beacon_ms > 0 else ())
        return ",".join(f"{name}={_fmt(getattr(self, name))}" for name in names)


@dataclass(frozen=True)
class LinkProfile:
    name: str
    path: Path
    description: str
    to_device: Direction
    from_device: Direction

    def device_args(self) -> list[str]:
        """Arguments for the device program: `--link-in SPEC --link-out SPEC`."""
        return ["--link-in", self.to_device.spec(), "--link-out", self.from_device.spec()]

    def as_dict(self) -> dict[str, Any]:
        """The definition as loaded, for the run manifest."""
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def _fmt(value: float | int) -> str:
    # Integral values print without ".0" so the C side can parse every field with strtod
    # and the spec reads like the TOML it came from.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def _number(path: Path, field: str, value: object) -> float:
    # bool is an int subclass; `loss = true` is a typo, not 1.0.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"{where(path, field)}: expected a number, got {value!r}")
    return float(value)


def _direction(path: Path, key: str, table: object) -> Direction:
    if not isinstance(table, dict):
        raise UserError(f"{where(path, key)}: missing table [{key}]")
    unknown = sorted(set(table) - set(FIELD_ORDER) - set(POWER_SAVE))
    if unknown:
        raise UserError(f"{where(path, f'{key}.{unknown[0]}')}: unknown field")
    values: dict[str, Any] = {}
    for name in FIELD_ORDER:
        field = f"{key}.{name}"
        if name not in table:
            raise UserError(f"{where(path, field)}: missing field")
        number = _number(path, field, table[name])
        if name in _FLOAT_FIELDS:
            if not 0 <= number <= _FLOAT_FIELDS[name]:
                raise UserError(
                    f"{where(path, field)}: must be in [0, {_FLOAT_FIELDS[name]:g}], got {number:g}"
                )
            values[name] = number
        elif name in _PROB_FIELDS:
            if not 0 <= number < 1:
                raise UserError(f"{where(path, field)}: must be in [0, 1), got {number:g}")
            values[name] = number
        else:
            low, high = _INT_FIELDS[name]
            if not number.is_integer() or not low <= number <= high:
                raise UserError(
                    f"{where(path, field)}: must be an integer in [{low}, {high}], got {number:g}"
                )
            values[name] = int(number)
    for name, (default, high) in POWER_SAVE.items():
        field = f"{key}.{name}"
        number = _number(path, field, table.get(name, default))
        low = 1 if name == "dtim" else 0
        if not low <= number <= high or (name == "dtim" and not number.is_integer()):
            raise UserError(f"{where(path, field)}: must be in [{low}, {high:g}], got {number:g}")
        values[name] = int(number) if name == "dtim" else number
    return Direction(**values)


def load_link_file(path: Path | str) -> LinkProfile:
    """Read and validate one link profile; errors name the file and the field."""
    path = Path(path)
    data = read_toml(path, "link profile file")
    unknown = sorted(set(data) - {"description", *DIRECTIONS})
    if unknown:
        raise UserError(f"{where(path, unknown[0])}: unknown field")
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise UserError(f"{where(path, 'description')}: missing or empty")
    return LinkProfile(
        name=path.stem,
        path=path,
        description=description.strip(),
        to_device=_direction(path, "to_device", data.get("to_device")),
        from_device=_direction(path, "from_device", data.get("from_device")),
    )


def link_names() -> tuple[str, ...]:
    return toml_names(links_dir())


def load_link(name: str) -> LinkProfile:
    """The link profile `benchmarks/links/<name>.toml`."""
    return load_link_file(named_toml(links_dir(), name, "link profile"))


LINK_NAMES: tuple[str, ...] = link_names()
