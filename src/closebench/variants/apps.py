"""A variant's apps: the programs the device can serve, each a cited alternative ([[apps]]).

The 2016 test's Lua program is not published, so nodemcu-2016 names more than one app and a
run picks one (`--app NAME`, default: the one marked `default = true`). Each app says which
page the device program serves for it (`device_app`, the device's `--app` flag: "http11" for
the bench's HTTP/1.1 LED page, "readme" for the NodeMCU README server), the files a board
gets, and where the app comes from. A variant without [[apps]] serves the bench's page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from closebench.errors import UserError
from closebench.variants.schema import Table

# The device program's --app values (firmware_variants/device/httppage.h, enum http_app).
DEVICE_APPS = ("http11", "readme")
# `<variant>+<app>`: the variant serving another app than its default, as a run names it.
APP_SEP = "+"


@dataclass(frozen=True)
class App:
    name: str
    device_app: str  # the device program's --app
    files: tuple[str, ...]  # the board's files for this app, relative to the variant folder
    cite: str  # where the app comes from (repository@commit path lines, or the bench)
    note: str
    default: bool = False


def parse_apps(top: Table, folder: Path) -> tuple[App, ...]:
    """[[apps]] of a manifest; exactly one is the default when any are listed."""
    if "apps" not in top.data:
        return ()
    apps = []
    for table in top.subtables("apps"):
        table.check_keys(
            required=("name", "device_app", "files", "cite", "note"), optional=("default",)
        )
        name = table.text("name")
        if not name.replace("-", "").replace("_", "").isalnum():
            raise table.fail("name", f"{name!r}: use letters, digits, '-' and '_'")
        files = table.strings("files")
        for i, rel in enumerate(files):
            if not (folder / rel).is_file():
                raise table.fail(f"files[{i}]", f"{rel!r} does not exist in {folder}")
        apps.append(
            App(
                name=name,
                device_app=table.choice("device_app", DEVICE_APPS),
                files=files,
                cite=table.text("cite"),
                note=table.text("note"),
                default=table.get("default", bool, False),
            )
        )
    names = [a.name for a in apps]
    if len(set(names)) != len(names):
        raise top.fail("apps", f"app names repeat: {', '.join(names)}")
    if sum(a.default for a in apps) != 1:
        raise top.fail("apps", "exactly one app needs default = true")
    return tuple(apps)


def default_app(apps: tuple[App, ...]) -> str | None:
    return next((a.name for a in apps if a.default), None)


def find_app(apps: tuple[App, ...], name: str, variant: str) -> App:
    for app in apps:
        if app.name == name:
            return app
    known = ", ".join(a.name for a in apps) or "none: it serves the bench's page only"
    raise UserError(f"--app {name}: {variant} has no such app (known: {known})")
