"""Where things live: the repository's data folders and the user cache."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def repo_root() -> Path:
    """The checkout holding firmware_variants/, benchmarks/ and analysis/."""
    env = os.environ.get("CLOSEBENCH_ROOT")
    return Path(env) if env else REPO_ROOT


def variants_dir() -> Path:
    return repo_root() / "firmware_variants"


def device_source_dir() -> Path:
    return variants_dir() / "device"


def benchmarks_dir() -> Path:
    return repo_root() / "benchmarks"


def results_dir() -> Path:
    env = os.environ.get("CLOSEBENCH_RESULTS")
    return Path(env) if env else repo_root() / "results"


def cache_dir() -> Path:
    """User cache for lwIP sources and device builds (CLOSEBENCH_CACHE overrides)."""
    env = os.environ.get("CLOSEBENCH_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "closebench"


def toml_names(folder: Path) -> tuple[str, ...]:
    """The IDs of a data folder: its *.toml file names."""
    return tuple(sorted(p.stem for p in folder.glob("*.toml")))


def named_toml(folder: Path, name: str, what: str) -> Path:
    """`folder/<name>.toml`, or a one-line error listing the names that exist."""
    from closebench.errors import UserError

    path = folder / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(toml_names(folder)) or "none"
        raise UserError(f"unknown {what} {name!r} (known: {known})")
    return path
