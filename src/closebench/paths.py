"""Where things live: the data folders (a checkout's, or the installed wheel's) and the cache."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# In a wheel the data folders travel inside the package (pyproject's force-include).
PACKAGE_DATA = Path(__file__).resolve().parent / "_data"


def _is_checkout(root: Path) -> bool:
    return (root / "firmware_variants").is_dir() and (root / "pyproject.toml").is_file()


def installed() -> bool:
    """True when running from an installed wheel, not from a source checkout."""
    return not os.environ.get("CLOSEBENCH_ROOT") and not _is_checkout(REPO_ROOT)


def repo_root() -> Path:
    """The folder holding firmware_variants/, benchmarks/ and analysis/."""
    env = os.environ.get("CLOSEBENCH_ROOT")
    if env:
        return Path(env)
    return PACKAGE_DATA if installed() else REPO_ROOT


def variants_dir() -> Path:
    return repo_root() / "firmware_variants"


def device_source_dir() -> Path:
    return variants_dir() / "device"


def benchmarks_dir() -> Path:
    return repo_root() / "benchmarks"


def results_dir() -> Path:
    """CLOSEBENCH_RESULTS, else the checkout's results/, else ./results for an installed wheel."""
    env = os.environ.get("CLOSEBENCH_RESULTS")
    if env:
        return Path(env)
    return Path.cwd() / "results" if installed() else repo_root() / "results"


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
