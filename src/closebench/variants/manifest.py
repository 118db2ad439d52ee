"""Firmware variants: one folder per variant under firmware_variants/, described by variant.toml.

The folder name is the variant's ID. A manifest says what the firmware is (with citations),
how the bench emulates its TCP stack (lwIP release, lwipopts, close/admission behaviour), what
a verify/probe test must observe (`[expect]`), and how to flash a real board (`[hardware]`).
Everything is validated on load; a bad manifest is a one-line UserError naming file and field.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from closebench.errors import UserError, where
from closebench.paths import variants_dir
from closebench.tomlfile import read_toml
from closebench.variants.apps import APP_SEP, App, default_app, find_app, parse_apps
from closebench.variants.heap import Heap, parse_heap
from closebench.variants.schema import (
    ACCEPT_OVERFLOW_ANSWERS,
    ADMISSIONS,
    CHIPS,
    CLIENT_FIN_ACKS,
    CLIENT_FIN_ANSWERS,
    CLOSE_MODES,
    COMMIT,
    FLASH_MODES,
    FORCED_OPTIONS,
    KINDS,
    LINUX_CLOSE,
    LWIP_RELEASES,
    OPTION_NAME,
    SERIAL_SERVICE,
    UPLOAD_TOOLS,
    Table,
    check_hex_offset,
    check_sha256,
    release_tuple,
)
from closebench.variants.timing import DEVICE_SPEEDS, MODEL_SPEEDS, DeviceTiming, parse_timing

MANIFEST = "variant.toml"
# `<variant>~<label>`: the variant built from another commit of its source (--source-ref).
# Not "@", which already means an lwIP release in cell labels and `regress --pair`.
REF_SEP = "~"
REF_LABEL = re.compile(r"^[A-Za-z0-9._-]+$")
# firmware_variants/device/ holds the emulated device's C source, not a variant.
NOT_VARIANTS = frozenset({"device", "chip"})  # the device program; the lx106 harness
# Every manifest must state these; the orchestrator's per-variant bench tests read them.
REQUIRED_EXPECT = (
    "time_wait_s",
    "client_fin_answer",
    "syn_admission",
    "max_pcbs",
    "tw_cap",
    "rst_on_unread",
    "rfc1337_ignore_rst_in_time_wait",
    "initial_rto_ms",
)
# Behaviour fields of [emulation] that need a citation in [emulation.cite].
CITED_BEHAVIOURS = ("close", "admission", "tw_cap", "cull_closing")
# Optional app settings of [emulation]; each one set is cited in [emulation.cite] too.
APP_KNOBS = ("backlog", "read_timeout_ms")
# `max_pcbs = "heap"` in TOML (which has no null) means: bounded only by heap -> None.
HEAP_BOUND = "heap"
MAX_PCB_COUNT = 65535  # lwIP counts PCBs in u16_t


@dataclass(frozen=True)
class Citation:
    repo: str
    ref: str
    path: str
    note: str = ""

    def __str__(self) -> str:
        return f"{self.repo}@{self.ref}:{self.path}"


@dataclass(frozen=True)
class Expectation:
    """One observable behaviour: value, tolerance (timings only) and where it comes from."""

    value: int | float | str | bool | None
    cite: Citation
    tolerance: float | None = None
    note: str = ""


@dataclass(frozen=True)
class DeclaredOption:
    """An lwipopts value as written in the manifest; `min_lwip` gates options new in 2.2.x."""

    name: str
    value: int | str
    cite: Citation
    min_lwip: str | None = None

    def applies_to(self, lwip: str | None) -> bool:
        if lwip is None:
            return False
        return self.min_lwip is None or release_tuple(lwip) >= release_tuple(self.min_lwip)


@dataclass(frozen=True)
class Emulation:
    lwip: str | None
    options: dict[str, int | str]
    option_citations: dict[str, Citation]
    close: str
    admission: str
    admission_limit: int
    tw_cap: int
    cull_closing: int
    known_differences: tuple[str, ...]
    behaviour_citations: dict[str, Citation] = field(default_factory=dict)
    # All declared options, including those gated to a newer lwIP than `lwip` (see with_lwip).
    declared_options: tuple[DeclaredOption, ...] = ()
    # The release the manifest chose; differs from `lwip` only on the release axis.
    manifest_lwip: str | None = None
    # The app's listen(backlog) and its read timeout for a silent client; 0 = the close mode's
    # own app default (firmware_variants/device/README.md).
    backlog: int = 0
    read_timeout_ms: int = 0


@dataclass(frozen=True)
class Hardware:
    chip: str
    image: dict[str, str]
    flash_mode: str
    flash_size: str
    flash_freq: str
    baud: int
    erase_first: bool
    segments: tuple[dict[str, str], ...]
    upload_tool: str
    upload_files: tuple[str, ...]
    app_dir: Path
    app_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceArchive:
    repo: str  # owner/name
    commit: str
    paths: tuple[str, ...]
    # None: another commit than the manifest pins (--source-ref); hashed on first use
    tree_sha256: str | None
    pinned: bool = True  # False: the hash was computed from the archive, not checked


@dataclass(frozen=True)
class SourceRange:
    """Commits of one repository that need other values than the manifest's defaults.

    A commit is in the range when `since` is its ancestor (or itself) and `until`, if set,
    is not. Only what a builder cannot take from the tree may change: the family (which
    builder), the app's close mode (e.g. NodeMCU's net module left espconn for raw lwIP) and
    known differences to add.
    """

    repo: str
    since: str
    until: str | None
    family: str | None
    known_differences: tuple[str, ...]
    note: str = ""
    close: str | None = None


@dataclass(frozen=True)
class Source:
    """Where the firmware's own stack code comes from, for an exact-source build."""

    family: str  # which builder compiles it (closebench.bench.exact)
    archives: tuple[SourceArchive, ...]
    known_differences: tuple[str, ...]  # what still differs from the board in an exact build
    note: str = ""
    ranges: tuple[SourceRange, ...] = ()  # other values for ranges of commits (--source-ref)

    @property
    def label(self) -> str:
        return ", ".join(f"{a.repo}@{a.commit[:7]}" for a in self.archives)


@dataclass(frozen=True)
class Variant:
    name: str
    path: Path
    kind: str
    firmware: str
    version: str
    chip: str
    stack: str
    summary: str
    emulation: Emulation
    expect: dict[str, Expectation]
    hardware: Hardware | None
    citations: tuple[Citation, ...] = ()
    source: Source | None = None
    # True once the bench runs the firmware's own stack source (see bench/variant_build.py).
    exact: bool = False
    # The chip's speed ([timing]) and whether the device program applies it ("model") or
    # answers at host speed ("host", the behaviour before the model; probes use it).
    timing: DeviceTiming | None = None
    device_speed: str = "host"
    # The label of another commit of the source than the manifest pins (see at_source_ref);
    # the name is then `<folder>~<label>`, so two refs of one variant are two stacks.
    source_ref: str | None = None
    # The release this stack is, when it came from the folder's releases.toml.
    release: dict[str, str] | None = None
    # The chip's free heap at app start ([heap]): the device program's heap budget.
    heap: Heap | None = None
    # The apps the manifest names ([[apps]], closebench.variants.apps) and the one that runs.
    apps: tuple[App, ...] = ()
    app: str | None = None

    @property
    def base_name(self) -> str:
        """The variant folder's name (the name without a source ref or an app)."""
        return self.name.split(REF_SEP, 1)[0].split(APP_SEP, 1)[0]

    @property
    def manifest_file(self) -> Path:
        return self.path / MANIFEST

    @property
    def label(self) -> str:
        """The name, marked when built on another lwIP than the manifest chose."""
        emu = self.emulation
        if emu.lwip != emu.manifest_lwip:
            return f"{self.name}@lwip-{emu.lwip}"
        return self.name

    def as_exact(self) -> Variant:
        """This variant on its own stack source: only the source's known differences remain."""
        if self.source is None:
            raise UserError(f"{self.manifest_file}: no [source] table; no exact-source build")
        emu = dataclasses.replace(self.emulation, known_differences=self.source.known_differences)
        return dataclasses.replace(self, exact=True, emulation=emu)

    def at_source_ref(
        self,
        commits: dict[str, str],
        label: str,
        ranges: Iterable[SourceRange] = (),
        release: dict[str, str] | None = None,
    ) -> Variant:
        """The same variant with its stack source at other commits (repo -> full commit id).

        Options, app and timing stay the manifest's, except what `ranges` (the manifest's
        `[[source.ranges]]` that contain these commits) change. At the pinned commits the
        variant is itself (its hash is checked against the manifest as always).
        """
        source = self.source
        if source is None:
            raise UserError(f"{self.manifest_file}: no [source] table; --source-ref needs one")
        if not REF_LABEL.match(label):
            raise UserError(f"source ref label {label!r}: use letters, digits, '.', '_', '-'")
        known = {a.repo for a in source.archives}
        for repo in commits:
            if repo not in known:
                raise UserError(
                    f"{self.name}: --source-ref {repo}=...: not a repository of its source "
                    f"({', '.join(sorted(known))})"
                )
        archives = tuple(
            a
            if commits.get(a.repo, a.commit) == a.commit
            else dataclasses.replace(a, commit=commits[a.repo], tree_sha256=None, pinned=False)
            for a in source.archives
        )
        if archives == source.archives:
            return dataclasses.replace(self, release=release) if release else self
        family, close, extra = source.family, self.emulation.close, []
        for rng in ranges:
            family, close = rng.family or family, rng.close or close
            extra += rng.known_differences
        new_source = dataclasses.replace(
            source,
            family=family,
            archives=archives,
            known_differences=source.known_differences + tuple(extra),
        )
        return dataclasses.replace(
            self,
            name=f"{self.base_name}{REF_SEP}{label}",
            emulation=dataclasses.replace(self.emulation, close=close),
            source=new_source,
            exact=False,
            source_ref=label,
            release=release,
        )

    def with_app(self, name: str, *, label: bool = False) -> Variant:
        """This variant serving the app `name` of its [[apps]]; `label` puts the app in the
        name (`<variant>+<app>`), so two apps of one variant are two cells of one run."""
        find_app(self.apps, name, self.name)
        new_name = f"{self.name}{APP_SEP}{name}" if label else self.name
        return dataclasses.replace(self, app=name, name=new_name)

    @property
    def app_record(self) -> App | None:
        return next((a for a in self.apps if a.name == self.app), None)

    def with_device_speed(self, speed: str) -> Variant:
        """This variant on its modelled core ("model", or an end of the model's interval:
        "model-slow", "model-fast") or at host speed ("host")."""
        if speed not in DEVICE_SPEEDS:
            raise UserError(f"--device-speed {speed!r}: one of {', '.join(DEVICE_SPEEDS)}")
        if self.kind != "lwip":
            return self  # the Linux reference is the host's own kernel: host speed only
        if speed in MODEL_SPEEDS and self.timing is None:
            raise UserError(
                f"{self.manifest_file}: no [timing] table; run it with --device-speed host"
            )
        return dataclasses.replace(self, device_speed=speed)

    def speed_args(self) -> list[str]:
        """The device program's --cpu flag when the model applies, else nothing."""
        if self.device_speed in MODEL_SPEEDS and self.timing is not None:
            return ["--cpu", self.timing.at_speed(self.device_speed).device_spec()]
        return []

    def device_args(self) -> list[str]:
        """Flags for the device program: how this firmware's API closes and admits.

        An exact-source build runs the firmware's own admission, TIME_WAIT limit and culling
        code, so the bench's emulations of them are switched off there.
        """
        if self.kind != "lwip":
            raise UserError(f"{self.name}: kind {self.kind!r} runs no emulated lwIP device")
        emu = self.emulation
        # The app (httpd.c) is the bench's in both builds, so its own settings always go along,
        # and so does the chip's heap (both builds allocate from it).
        app = [
            *(self.heap.device_args() if self.heap else []),
            *(["--backlog", str(emu.backlog)] if emu.backlog else []),
            *(["--read-timeout-ms", str(emu.read_timeout_ms)] if emu.read_timeout_ms else []),
            *(["--app", self.app_record.device_app] if self.app_record else []),
            *self.speed_args(),
        ]
        if self.exact:
            return [
                "--close",
                emu.close,
                "--admission",
                "none",
                "--tw-cap",
                "0",
                "--cull-closing",
                "0",
                *app,
            ]
        return [
            "--close", emu.close,
            "--admission", emu.admission,
            "--admission-limit", str(emu.admission_limit),
            "--tw-cap", str(emu.tw_cap),
            "--cull-closing", str(emu.cull_closing),
            *app,
        ]  # fmt: skip

    def with_lwip(self, version: str) -> Variant:
        """The same variant built on another lwIP release (the release axis of a run)."""
        if self.kind != "lwip":
            raise UserError(f"{self.name}: kind {self.kind!r} has no lwIP to rebuild")
        if version not in LWIP_RELEASES:
            raise UserError(
                f"{self.name}: lwIP {version!r} is not buildable here "
                f"(available: {', '.join(LWIP_RELEASES)})"
            )
        emu = self.emulation
        if version == emu.lwip and not self.exact:
            return self
        active = [opt for opt in emu.declared_options if opt.applies_to(version)]
        differences = list(_base_differences(emu))
        if version != emu.manifest_lwip:
            differences.append(
                f"release axis: built on upstream lwIP {version} instead of {emu.manifest_lwip}, "
                "the release variant.toml chose as closest to the firmware"
            )
        differences += _gated_differences(emu.declared_options, version)
        new_emu = dataclasses.replace(
            emu,
            lwip=version,
            options={opt.name: opt.value for opt in active},
            option_citations={opt.name: opt.cite for opt in active},
            known_differences=tuple(differences),
        )
        return dataclasses.replace(self, emulation=new_emu, exact=False)


# ---------------------------------------------------------------------------------------------
# Discovery and loading


def _discover() -> tuple[str, ...]:
    root = variants_dir()
    if not root.is_dir():
        return ()
    return tuple(
        sorted(
            p.name
            for p in root.iterdir()
            if p.is_dir() and p.name not in NOT_VARIANTS and (p / MANIFEST).is_file()
        )
    )


VARIANT_NAMES: tuple[str, ...] = _discover()


def variant_names() -> tuple[str, ...]:
    """Re-scan the folder (VARIANT_NAMES is computed once at import); an empty set, or a
    folder without its manifest, is an error rather than a silently shorter list."""
    root = variants_dir()
    if not root.is_dir():
        raise UserError(f"{root}: no variants folder (is CLOSEBENCH_ROOT right?)")
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name not in NOT_VARIANTS and not (folder / MANIFEST).is_file():
            raise UserError(f"{folder}: a variant folder without {MANIFEST}")
    names = _discover()
    if not names:
        raise UserError(f"{root}: no variants (folders with a {MANIFEST})")
    return names


def load_variant(name: str) -> Variant:
    known = variant_names()
    if name not in known:
        raise UserError(f"unknown variant {name!r} (known: {', '.join(known) or 'none'})")
    return load_variant_file(variants_dir() / name / MANIFEST)


def load_variants(names: Iterable[str] | None = None) -> list[Variant]:
    chosen = variant_names() if names is None else tuple(names)
    return [load_variant(name) for name in chosen]


def load_variant_file(path: Path) -> Variant:
    path = Path(path)
    data = read_toml(path, "manifest")
    return _parse(Table(data, path), path.parent)


def validate_lwip_options(variant: Variant) -> None:
    """Check option names against the chosen release's opt.h (called by the build step).

    Imported lazily: the checker lives in the bench package and reads unpacked lwIP sources,
    which plain manifest loading must not need.
    """
    if variant.kind != "lwip" or variant.emulation.lwip is None:
        return
    lwipopts = importlib.import_module("closebench.bench.lwipopts")
    lwipopts.check_option_names(
        variant.emulation.lwip,
        sorted(variant.emulation.options),
        origin=str(variant.manifest_file),
    )


# ---------------------------------------------------------------------------------------------
# Parsing


def _parse(top: Table, folder: Path) -> Variant:
    top.check_keys(
        required=(
            "name", "kind", "firmware", "version", "chip", "stack", "summary",
            "citations", "emulation", "expect", "hardware",
        ),
        optional=("source", "timing", "citation_defaults", "heap", "apps"),
    )  # fmt: skip
    name = top.text("name")
    if name != folder.name:
        raise top.fail("name", f"{name!r} must equal the folder name {folder.name!r}")
    kind = top.choice("kind", KINDS)
    chip = top.choice("chip", (*CHIPS, "host"))
    defaults = _citation_defaults(top)
    citations = tuple(_citation(t, defaults) for t in top.subtables("citations"))
    if not citations:
        raise top.fail("citations", "needs at least one citation for the provenance")
    emulation = _emulation(top.sub("emulation"), kind, defaults)
    expect = _expect(top.sub("expect"), defaults)
    hardware = _hardware(top, folder, kind)
    source = _source(top.sub("source"), kind) if "source" in top.data else None
    timing = parse_timing(top.sub("timing"), kind) if "timing" in top.data else None
    heap = (
        parse_heap(top.sub("heap"), lambda t: _citation(t, defaults))
        if "heap" in top.data
        else None
    )
    apps = parse_apps(top, folder)
    return Variant(
        name=name,
        path=folder,
        kind=kind,
        firmware=top.text("firmware"),
        version=top.text("version"),
        chip=chip,
        stack=top.text("stack"),
        summary=top.text("summary"),
        emulation=emulation,
        expect=expect,
        hardware=hardware,
        citations=citations,
        source=source,
        timing=timing,
        heap=heap,
        apps=apps,
        app=default_app(apps),
    )


def _source(table: Table, kind: str) -> Source:
    if kind != "lwip":
        raise table.fail("family", "only lwip-kind variants build a stack from source")
    table.check_keys(
        required=("family", "archives", "known_differences"), optional=("note", "ranges")
    )
    archives = []
    for item in table.subtables("archives"):
        item.check_keys(required=("repo", "commit", "paths", "tree_sha256"))
        repo = item.text("repo")
        if repo.count("/") != 1:
            raise item.fail("repo", f"must be 'owner/name', got {repo!r}")
        commit = item.text("commit")
        if not COMMIT.match(commit):
            raise item.fail("commit", f"must be a full 40-digit commit id, got {commit!r}")
        paths = item.strings("paths")
        if not paths:
            raise item.fail("paths", "needs at least one path the build reads")
        for i, rel in enumerate(paths):
            if rel.startswith("/") or ".." in rel.split("/"):
                raise item.fail(f"paths[{i}]", f"must be relative inside the repository: {rel!r}")
        archives.append(SourceArchive(repo, commit, paths, check_sha256(item, "tree_sha256")))
    if not archives:
        raise table.fail("archives", "needs at least one archive")
    repos = {a.repo for a in archives}
    return Source(
        family=table.text("family"),
        archives=tuple(archives),
        known_differences=table.strings("known_differences"),
        note=table.get("note", str, ""),
        ranges=tuple(_source_range(t, repos) for t in table.subtables("ranges"))
        if "ranges" in table.data
        else (),
    )


def _source_range(item: Table, repos: set[str]) -> SourceRange:
    item.check_keys(
        required=("repo", "since", "note"),
        optional=("until", "family", "close", "known_differences"),
    )
    repo = item.text("repo")
    if repo not in repos:
        raise item.fail("repo", f"{repo!r} is not one of the source's archives")
    ends = {}
    for key in ("since", "until"):
        if key in item.data:
            ends[key] = item.text(key)
            if not COMMIT.match(ends[key]):
                raise item.fail(key, f"must be a full 40-digit commit id, got {ends[key]!r}")
    return SourceRange(
        repo=repo,
        since=ends["since"],
        until=ends.get("until"),
        family=item.text("family") if "family" in item.data else None,
        close=item.choice("close", CLOSE_MODES) if "close" in item.data else None,
        known_differences=item.strings("known_differences")
        if "known_differences" in item.data
        else (),
        note=item.text("note"),
    )


@dataclass(frozen=True)
class CitationDefaults:
    """`[citation_defaults]`: the repository and ref most citations name, stated once."""

    repo: str | None = None
    ref: str | None = None


def _citation_defaults(top: Table) -> CitationDefaults:
    if "citation_defaults" not in top.data:
        return CitationDefaults()
    table = top.sub("citation_defaults")
    table.check_keys(required=("repo", "ref"))
    return CitationDefaults(_repo(table), table.text("ref"))


def _repo(table: Table) -> str:
    repo = table.text("repo")
    if repo.count("/") != 1:
        raise table.fail("repo", f"must be 'owner/name', got {repo!r}")
    return repo


def _citation(table: Table, defaults: CitationDefaults) -> Citation:
    """{repo, ref, path, note}; repo and ref fall back to [citation_defaults]."""
    required = ["path"]
    required += [key for key in ("repo", "ref") if getattr(defaults, key) is None]
    table.check_keys(required=tuple(required), optional=("repo", "ref", "note"))
    repo = _repo(table) if "repo" in table.data else defaults.repo
    ref = table.text("ref") if "ref" in table.data else defaults.ref
    assert repo is not None and ref is not None  # required above when there is no default
    return Citation(repo, ref, table.text("path"), table.get("note", str, ""))


def _emulation(emu: Table, kind: str, defaults: CitationDefaults) -> Emulation:
    emu.check_keys(
        required=(
            "close", "admission", "admission_limit", "tw_cap", "cull_closing",
            "known_differences", "cite",
        ),
        optional=("lwip", "options", *APP_KNOBS),
    )  # fmt: skip
    if kind == "linux":
        if "lwip" in emu.data:
            raise emu.fail("lwip", "a linux-kind variant runs no lwIP; remove it")
        lwip = None
        close = emu.choice("close", (LINUX_CLOSE,))
    else:
        lwip = emu.choice("lwip", LWIP_RELEASES)
        close = emu.choice("close", CLOSE_MODES)
    admission = emu.choice("admission", ADMISSIONS)
    limit = emu.count("admission_limit")
    if limit > MAX_PCB_COUNT:
        raise emu.fail(
            "admission_limit", f"must be <= {MAX_PCB_COUNT} (a count of PCBs), got {limit}"
        )
    if (admission == "none") != (limit == 0):
        raise emu.fail(
            "admission_limit", f"must be 0 exactly when admission is 'none' (got {limit})"
        )
    declared = _options(emu.sub("options", {}), kind, defaults)
    _check_option_values(emu, declared)
    active = [opt for opt in declared if opt.applies_to(lwip)]
    cites = emu.sub("cite")
    cites.check_keys(required=CITED_BEHAVIOURS, optional=("lwip", *APP_KNOBS))
    behaviour_citations = {
        key: _citation(cites.sub(key), defaults)
        for key in (*CITED_BEHAVIOURS, "lwip")
        if key in cites.data
    }
    base = emu.strings("known_differences")
    return Emulation(
        lwip=lwip,
        options={opt.name: opt.value for opt in active},
        option_citations={opt.name: opt.cite for opt in active},
        close=close,
        admission=admission,
        admission_limit=limit,
        tw_cap=emu.count("tw_cap"),
        cull_closing=emu.count("cull_closing"),
        known_differences=base + _gated_differences(declared, lwip),
        behaviour_citations=behaviour_citations,
        declared_options=tuple(declared),
        manifest_lwip=lwip,
        backlog=_app_knob(emu, "backlog", 255),
        read_timeout_ms=_app_knob(emu, "read_timeout_ms", 3_600_000),
    )


def _app_knob(emu: Table, key: str, most: int) -> int:
    """An optional app setting of [emulation]; when set it needs a citation in [emulation.cite]."""
    if key not in emu.data:
        return 0
    value = emu.count(key)
    if value > most:
        raise emu.fail(key, f"must be at most {most}, got {value}")
    if key not in emu.sub("cite").data:
        raise emu.fail(key, f"needs a citation: emulation.cite.{key}")
    return value


def _options(options: Table, kind: str, defaults: CitationDefaults) -> list[DeclaredOption]:
    if kind == "linux" and options.data:
        raise options.fail(next(iter(options.data)), "a linux-kind variant takes no lwipopts")
    declared = []
    for name in options.data:
        if not OPTION_NAME.match(name):
            raise options.fail(name, "option names are lwIP macro names (UPPER_CASE)")
        if name in FORCED_OPTIONS:
            raise options.fail(name, "fixed by the device program (NO_SYS raw API, IPv4, stats)")
        if not isinstance(options.data[name], dict):
            raise options.fail(name, "must be a table {value = ..., cite = {repo, ref, path}}")
        opt = options.sub(name)
        opt.check_keys(required=("value", "cite"), optional=("min_lwip",))
        value = opt.data["value"]
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise opt.fail("value", f"must be an integer or a string, got {type(value).__name__}")
        min_lwip = opt.choice("min_lwip", LWIP_RELEASES) if "min_lwip" in opt.data else None
        cite = _citation(opt.sub("cite"), defaults)
        declared.append(DeclaredOption(name, value, cite, min_lwip))
    return declared


def _check_option_values(emu: Table, declared: list[DeclaredOption]) -> None:
    """Option names and ranges against lwIP's opt.h (shipped as data), without a build."""
    from closebench.variants.lwip_options import check_options

    for release in LWIP_RELEASES:
        chosen = {o.name: o.value for o in declared if o.applies_to(release)}
        problems = check_options(release, chosen)
        if problems:
            raise emu.fail("options", f"{problems[0]} (lwIP {release})")


def _gated_differences(declared: Iterable[DeclaredOption], lwip: str | None) -> tuple[str, ...]:
    """Options the manifest wants but the chosen release lacks: say so, don't hide it."""
    return tuple(
        f"{opt.name}={opt.value} needs lwIP >= {opt.min_lwip}; not applied on {lwip} "
        f"(upstream default used instead)"
        for opt in declared
        if lwip is not None and not opt.applies_to(lwip)
    )


def _base_differences(emu: Emulation) -> tuple[str, ...]:
    """The manifest's own known_differences, without entries derived from a release choice."""
    derived = set(_gated_differences(emu.declared_options, emu.lwip))
    return tuple(
        d for d in emu.known_differences if d not in derived and not d.startswith("release axis:")
    )


def _expect(expect: Table, defaults: CitationDefaults) -> dict[str, Expectation]:
    expect.check_keys(required=REQUIRED_EXPECT, optional=tuple(expect.data))
    result = {}
    for key in expect.data:
        item = expect.sub(key)
        item.check_keys(required=("value", "cite"), optional=("tolerance", "note"))
        tolerance = item.data.get("tolerance")
        if tolerance is not None and (
            isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0
        ):
            raise item.fail("tolerance", "must be a non-negative number")
        result[key] = Expectation(
            value=_expect_value(item, key),
            cite=_citation(item.sub("cite"), defaults),
            tolerance=float(tolerance) if tolerance is not None else None,
            note=item.get("note", str, ""),
        )
    return result


def _expect_value(item: Table, key: str) -> int | float | str | bool | None:
    value: Any = item.data["value"]
    if key in ("time_wait_s", "initial_rto_ms"):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise item.fail("value", "must be a positive number")
    elif key in ("tw_cap",):
        item.count("value")
    elif key == "queued_behind_served_s":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise item.fail("value", "must be a non-negative number")
    elif key == "serial_service":
        item.choice("value", SERIAL_SERVICE)
    elif key == "client_fin_ack":
        item.choice("value", CLIENT_FIN_ACKS)
    elif key == "accept_queue_overflow":
        _check_accept_overflow(item, item.text("value"))
    elif key == "max_pcbs":
        if value == HEAP_BOUND:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise item.fail("value", f"must be a positive integer or {HEAP_BOUND!r}")
    elif key == "client_fin_answer":
        item.choice("value", CLIENT_FIN_ANSWERS)
    elif key == "syn_admission":
        _check_syn_admission(item, item.text("value"))
    elif key in ("rst_on_unread", "rfc1337_ignore_rst_in_time_wait"):
        item.get("value", bool)
    return value


def _check_accept_overflow(item: Table, value: str) -> None:
    if value == "none":
        return
    answer, _, count = value.partition(":")
    if answer not in ACCEPT_OVERFLOW_ANSWERS or not count.isdigit():
        raise item.fail(
            "value",
            f"must be 'none', 'rst:N' or 'syn_dropped:N' (N admitted first), got {value!r}",
        )


def _check_syn_admission(item: Table, value: str) -> None:
    if value == "none":
        return
    mode, _, limit = value.partition(":")
    if mode not in ADMISSIONS[1:] or not limit.isdigit() or int(limit) <= 0:
        raise item.fail("value", f"must be 'none', 'active:N' or 'established:N', got {value!r}")


def _hardware(top: Table, folder: Path, kind: str) -> Hardware | None:
    raw = top.data["hardware"]
    if raw is False:
        return None  # e.g. linux-reference: the host kernel is the device, nothing to flash
    if kind == "linux":
        raise top.fail("hardware", "a linux-kind variant has no board; set hardware = false")
    hw = top.sub("hardware")
    hw.check_keys(
        required=(
            "chip", "image", "flash_mode", "flash_size", "flash_freq", "baud", "erase_first",
            "segments", "upload", "app_files",
        ),
    )  # fmt: skip
    chip = hw.choice("chip", CHIPS)
    if chip != top.data["chip"]:
        raise hw.fail("chip", f"{chip!r} differs from the top-level chip {top.data['chip']!r}")
    segments = []
    for seg in hw.subtables("segments"):
        seg.check_keys(required=("offset", "file"))
        segments.append({"offset": check_hex_offset(seg, "offset"), "file": seg.text("file")})
    if not segments:
        raise hw.fail("segments", "needs at least one segment")
    upload = hw.sub("upload")
    upload.check_keys(required=("tool", "files"))
    app_files = hw.strings("app_files")
    for i, rel in enumerate(app_files):
        if not (folder / rel).is_file():
            raise hw.fail(f"app_files[{i}]", f"{rel!r} does not exist in {folder}")
    upload_files = upload.strings("files")
    for i, rel in enumerate(upload_files):
        if rel not in app_files:
            raise upload.fail(f"files[{i}]", f"{rel!r} is not listed in hardware.app_files")
    baud = hw.get("baud", int)
    if baud <= 0:
        raise hw.fail("baud", "must be positive")
    return Hardware(
        chip=chip,
        image=_image(hw.sub("image")),
        flash_mode=hw.choice("flash_mode", FLASH_MODES),
        flash_size=hw.text("flash_size"),
        flash_freq=hw.text("flash_freq"),
        baud=baud,
        erase_first=hw.get("erase_first", bool),
        segments=tuple(segments),
        upload_tool=upload.choice("tool", UPLOAD_TOOLS),
        upload_files=upload_files,
        app_dir=folder,
        app_files=app_files,
    )


def _image(image: Table) -> dict[str, str]:
    forms = (("path",), ("url", "sha256"), ("build", "output"))
    for form in forms:
        if set(image.data) == set(form):
            if form == ("url", "sha256"):
                check_sha256(image, "sha256")
            return {key: image.text(key) for key in form}
    got = ", ".join(sorted(image.data)) or "nothing"
    raise UserError(
        f"{where(image.file, image.prefix.rstrip('.'))}: must hold exactly one of "
        f"{{path}}, {{url, sha256}} or {{build, output}}, got {{{got}}}"
    )


def describe_location(variant: Variant, dotted: str) -> str:
    """`<variant.toml>: <field>` for errors raised by other modules about a manifest field."""
    return where(variant.manifest_file, dotted)
