"""Exact-source builders: each module compiles one family of firmware stacks for the host.

A module exposes `BUILDERS = {family: build}` where
`build(trees, out_dir, options, log) -> Path` compiles the device program `cbdev` from the
verified source trees (`owner/repo` -> unpacked top folder, read-only) into `out_dir` and
returns the binary. The family name is what a variant.toml's `[source].family` says.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType

from closebench.errors import UserError

Builder = Callable[..., Path]


@cache
def _modules() -> tuple[ModuleType, ...]:
    names = sorted(info.name for info in pkgutil.iter_modules(__path__))
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in names)


def families() -> dict[str, tuple[Builder, Path]]:
    """Family -> (its build function, the module file that defines it)."""
    found: dict[str, tuple[Builder, Path]] = {}
    for module in _modules():
        for family, build in getattr(module, "BUILDERS", {}).items():
            found[family] = (build, Path(module.__file__ or ""))
    return found


def builder_for(family: str) -> tuple[Builder, str]:
    """The family's build function and a digest of its module (part of the build key)."""
    known = families()
    if family not in known:
        raise UserError(
            f"no exact-source builder for family {family!r} (known: {', '.join(sorted(known))})"
        )
    build, module_file = known[family]
    return build, hashlib.sha256(module_file.read_bytes()).hexdigest()
