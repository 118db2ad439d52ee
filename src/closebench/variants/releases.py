"""Release lists: `firmware_variants/<variant>/releases.toml`, the releases of a firmware line
that matter for closing, each a commit of the variant's source with a date and one line on
what changed in networking (cited).

`closebench compare --releases <variant>` builds the variant's stack at each listed commit and
runs them side by side; the report then draws fault rates over the release dates.

```toml
line = "NodeMCU master, ..."

[[releases]]
label = "2.1.0"                     # the stack's name becomes <variant>~<label>
repo = "nodemcu/nodemcu-firmware"   # one of the variant's [source] archives
commit = "<40 hex digits>"
tag = "2.1.0-master_20170521"       # optional
date = 2017-05-21                   # the commit's date (TOML date)
networking = "one line: what changed for closing"
cite = { repo = "...", ref = "...", path = "...", note = "..." }
available = false                   # optional: the commit's source is not reachable here
```
A release with `available = false` is listed for the record (its networking line says why) and
left out of `compare --releases`.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path

from closebench.errors import UserError
from closebench.paths import variants_dir
from closebench.variants.manifest import REF_LABEL, Citation
from closebench.variants.schema import COMMIT, Table

RELEASES_FILE = "releases.toml"


@dataclass(frozen=True)
class Release:
    label: str
    repo: str
    commit: str
    tag: str
    date: dt.date
    networking: str
    cite: Citation
    available: bool = True  # false: "source not available here", not built

    def record(self) -> dict[str, str]:
        """What the run manifest and the report carry about this release."""
        return {
            "label": self.label,
            "repo": self.repo,
            "commit": self.commit,
            "tag": self.tag,
            "date": self.date.isoformat(),
            "networking": self.networking,
            "cite": str(self.cite),
        }


@dataclass(frozen=True)
class ReleaseList:
    variant: str
    line: str
    releases: tuple[Release, ...]
    path: Path

    def find(self, ref: str) -> Release | None:
        """The release a ref names: its label, its tag, or a prefix (>= 7) of its commit."""
        for rel in self.releases:
            if ref in (rel.label, rel.tag) or (len(ref) >= 7 and rel.commit.startswith(ref)):
                return rel
        return None


def releases_path(variant: str) -> Path:
    return variants_dir() / variant / RELEASES_FILE


def has_releases(variant: str) -> bool:
    return releases_path(variant).is_file()


def load_releases(variant: str) -> ReleaseList:
    path = releases_path(variant)
    if not path.is_file():
        raise UserError(f"{path}: no release list for {variant!r}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None
    top = Table(data, path)
    top.check_keys(required=("line", "releases"))
    releases = tuple(_release(item) for item in top.subtables("releases"))
    if not releases:
        raise top.fail("releases", "needs at least one release")
    labels = [r.label for r in releases]
    for label in labels:
        if labels.count(label) > 1:
            raise top.fail("releases", f"label {label!r} appears twice")
    return ReleaseList(variant, top.text("line"), releases, path)


def _release(item: Table) -> Release:
    item.check_keys(
        required=("label", "repo", "commit", "date", "networking", "cite"),
        optional=("tag", "available"),
    )
    label = item.text("label")
    if not REF_LABEL.match(label):
        raise item.fail("label", f"use letters, digits, '.', '_', '-' (got {label!r})")
    commit = item.text("commit")
    if not COMMIT.match(commit):
        raise item.fail("commit", f"must be a full 40-digit commit id, got {commit!r}")
    date = item.data["date"]
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        raise item.fail("date", "must be a TOML date (YYYY-MM-DD, unquoted)")
    cite = item.sub("cite")
    cite.check_keys(required=("repo", "ref", "path"), optional=("note",))
    return Release(
        label=label,
        repo=item.text("repo"),
        commit=commit,
        tag=item.get("tag", str, ""),
        date=date,
        networking=item.text("networking"),
        cite=Citation(
            cite.text("repo"), cite.text("ref"), cite.text("path"), cite.get("note", str, "")
        ),
        available=item.get("available", bool, True),
    )
