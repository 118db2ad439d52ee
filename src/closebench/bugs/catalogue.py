"""The bug catalogue: one TOML file per publicly reported close/teardown bug (benchmarks/bugs/).

A file names the report and the fix (repository, issue, commit, the commit just before it,
affected and fixed versions), the trigger (a probe and the behaviour it measures), the wire
signature of the buggy and of the fixed behaviour as conditions on the probe's measured
value, the stacks it applies to (each with why) and those it does not (each with why), and
the before/after pairs that show the fix on the bench. Every error is one line naming the
file and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from closebench.errors import UserError
from closebench.paths import benchmarks_dir
from closebench.probes import catalog
from closebench.tomlfile import read_toml
from closebench.variants.manifest import variant_names

FULL_COMMIT = re.compile(r"^[0-9a-f]{40}$")
REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
LAYERS = ("stack", "glue", "app")
CONDITION_KEYS = ("equals", "one_of", "above", "below", "starts_with", "contains")


BOUND = re.compile(r"^(>=|<=)\s*(-?[0-9.]+)")


def numeric(measured: Any) -> tuple[str | None, float | None]:
    """(bound, number): probes write a value their watch could not see the end of as a
    string ">= x" (lower bound) or "<= x" (upper bound)."""
    if isinstance(measured, bool):
        return None, None
    if isinstance(measured, int | float):
        return None, float(measured)
    m = BOUND.match(measured) if isinstance(measured, str) else None
    if m is None:
        return None, None
    return ("lower" if m.group(1) == ">=" else "upper"), float(m.group(2))


@dataclass(frozen=True)
class Condition:
    """A test on one measured value: equals, one_of, above, below, starts_with, contains."""

    op: str
    value: Any

    def holds(self, measured: Any) -> bool:
        if measured is None:
            return False
        if self.op == "equals":  # False is not 0 here, nor True 1
            same_kind = isinstance(measured, bool) == isinstance(self.value, bool)
            return same_kind and bool(measured == self.value)
        if self.op == "one_of":
            return measured in self.value
        if self.op == "starts_with":
            return isinstance(measured, str) and measured.startswith(self.value)
        if self.op == "contains":
            return isinstance(measured, str) and str(self.value) in measured
        bound, number = numeric(measured)
        if number is None:
            return False
        if self.op == "above":  # a lower bound ">= x" proves "above" when x is above
            return bound != "upper" and number > self.value
        return bound != "lower" and number < self.value

    def describe(self) -> str:
        return f"{self.op.replace('_', ' ')} {self.value!r}"


@dataclass(frozen=True)
class Pair:
    """The variant built at the commit just before the fix and at the fix commit."""

    variant: str
    refs_before: dict[str, str]  # owner/repo -> full commit
    refs_after: dict[str, str]
    note: str


@dataclass(frozen=True)
class Bug:
    id: str
    path: Path
    title: str
    layer: str
    report: dict[str, Any]
    fix: dict[str, Any]
    probe: str
    behaviour: str
    present: Condition
    absent: Condition
    wire_present: str
    wire_absent: str
    applies: dict[str, str]  # variant -> why it applies (which code it runs)
    not_applicable: dict[str, str]  # variant -> why not
    pairs: tuple[Pair, ...]
    pair_status: str  # what the bench can show of the fix, when it has no pair
    verification: str

    def status_for(self, variant: str) -> tuple[str, str] | None:
        """('not applicable', why) when the bug does not apply to this variant, else None."""
        base = variant.split("~", 1)[0]
        if base in self.not_applicable:
            return "not applicable", self.not_applicable[base]
        if base not in self.applies:
            return "not applicable", "the catalogue entry does not name this stack"
        return None


class Fields:
    """A TOML table read field by field: a bad field is a one-line error naming file and key."""

    def __init__(self, data: dict[str, Any], path: Path, prefix: str = "") -> None:
        self.data, self.path, self.prefix = data, path, prefix

    def fail(self, key: str, why: str) -> UserError:
        return UserError(f"{self.path}: field {self.prefix}{key}: {why}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.data:
            if default is ...:
                raise self.fail(key, "missing")
            return default
        value = self.data[key]
        bool_ok = kind is bool or (isinstance(kind, tuple) and bool in kind)
        if not isinstance(value, kind) or (isinstance(value, bool) and not bool_ok):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(key, f"expected {names}, got {type(value).__name__}")
        if isinstance(value, str) and not value.strip():
            raise self.fail(key, "empty")
        return value

    def table(self, key: str, default: Any = ...) -> Fields:
        value = self.get(key, dict, {} if default is not ... else ...)
        return Fields(value, self.path, f"{self.prefix}{key}.")

    def commit(self, key: str) -> str:
        value = self.get(key, str)
        if not FULL_COMMIT.match(value):
            raise self.fail(key, f"{value!r} is not a full 40-hex commit id")
        return value

    def repo(self, key: str) -> str:
        value = self.get(key, str)
        if not REPO.match(value):
            raise self.fail(key, f"{value!r} is not owner/repo")
        return value


def bugs_dir() -> Path:
    return benchmarks_dir() / "bugs"


def _condition(f: Fields, key: str) -> Condition:
    table = f.table(key)
    ops = [k for k in table.data if k in CONDITION_KEYS]
    unknown = sorted(set(table.data) - set(CONDITION_KEYS))
    if unknown:
        raise table.fail(unknown[0], f"unknown condition (use one of {', '.join(CONDITION_KEYS)})")
    if len(ops) != 1:
        raise f.fail(key, f"needs exactly one of {', '.join(CONDITION_KEYS)}")
    op = ops[0]
    kinds: dict[str, Any] = {"one_of": list, "above": (int, float), "below": (int, float)}
    return Condition(op, table.get(op, kinds.get(op, (str, int, float, bool))))


def _refs(f: Fields, key: str) -> dict[str, str]:
    table = f.table(key)
    if not table.data:
        raise f.fail(key, "names no repository")
    for repo in table.data:
        if not REPO.match(repo):
            raise table.fail(repo, "is not owner/repo")
        table.commit(repo)
    return dict(table.data)


def _pairs(f: Fields, known: set[str]) -> tuple[Pair, ...]:
    raw = f.get("pairs", list, [])
    pairs = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise f.fail(f"pairs[{i}]", "expected a table")
        p = Fields(item, f.path, f"pairs[{i}].")
        variant = p.get("variant", str)
        if variant not in known:
            raise p.fail("variant", f"unknown variant {variant!r}")
        pairs.append(Pair(variant, _refs(p, "before"), _refs(p, "after"), p.get("note", str)))
    return tuple(pairs)


def _variant_map(f: Fields, key: str, known: set[str]) -> dict[str, str]:
    table = f.table(key, {})
    for name in table.data:
        if name not in known:
            raise table.fail(name, f"unknown variant (known: {', '.join(sorted(known))})")
        table.get(name, str)
    return dict(table.data)


def parse_bug(data: dict[str, Any], path: Path, known: set[str] | None = None) -> Bug:
    known = set(variant_names()) if known is None else known
    f = Fields(data, path)
    layer = f.get("layer", str)
    if layer not in LAYERS:
        raise f.fail("layer", f"{layer!r} is not one of {', '.join(LAYERS)}")
    report, fix, trigger, sig = (
        f.table("report"),
        f.table("fix"),
        f.table("trigger"),
        f.table("signature"),
    )
    report.repo("repo")
    report.get("issue", str)
    report.get("url", str)
    fix.repo("repo")
    fix.commit("commit")
    for key in ("affected", "fixed", "cite"):
        fix.get(key, str)
    probe = trigger.get("probe", str)
    try:
        module = catalog.load_probe(probe)
    except UserError as exc:
        raise trigger.fail("probe", str(exc)) from None
    behaviour = trigger.get("behaviour", str)
    if behaviour not in module.BEHAVIOURS:
        raise trigger.fail("behaviour", f"probe {probe} measures {', '.join(module.BEHAVIOURS)}")
    applies = _variant_map(f, "applies", known)
    not_applicable = _variant_map(f, "not_applicable", known)
    both = sorted(set(applies) & set(not_applicable))
    if both:
        raise f.fail("not_applicable", f"{both[0]} is also under [applies]")
    pairs = _pairs(f, known)
    pair_status = f.get("pair_status", str, "")
    if not applies and not pair_status:
        raise f.fail("applies", "names no variant (then pair_status says why it is out of reach)")
    if not pairs and not pair_status:
        raise f.fail("pair_status", "missing: say why the fix is not shown as a pair")
    return Bug(
        id=path.stem, path=path, title=f.get("title", str), layer=layer, report=report.data,
        fix=fix.data, probe=probe, behaviour=behaviour, present=_condition(sig, "present"),
        absent=_condition(sig, "absent"), wire_present=sig.get("wire_present", str),
        wire_absent=sig.get("wire_absent", str), applies=applies,
        not_applicable=not_applicable, pairs=pairs, pair_status=pair_status,
        verification=f.get("verification", str),
    )  # fmt: skip


def load_bug(path: Path) -> Bug:
    return parse_bug(read_toml(path, "bug entry"), path)


def load_catalogue(folder: Path | None = None, ids: list[str] | None = None) -> list[Bug]:
    folder = folder or bugs_dir()
    paths = sorted(folder.glob("*.toml"))
    if not paths:
        raise UserError(f"{folder}: no bug entries (*.toml)")
    bugs = [load_bug(p) for p in paths]
    if ids:
        unknown = sorted(set(ids) - {b.id for b in bugs})
        if unknown:
            raise UserError(f"unknown bug {unknown[0]!r} (known: {', '.join(b.id for b in bugs)})")
        bugs = [b for b in bugs if b.id in ids]
    return bugs
