"""The layout README.md shows: one package per stage, imports only from earlier stages, no cycles.

Read from the source with ast (every import, deferred ones inside functions included), so a
back-edge hidden in a function body fails here as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "closebench"
SHARED = {"closebench", "errors", "paths", "tomlfile", "schema", "data"}
# README "Where the code lives", top to bottom: a stage may import any stage above it.
STAGES = [
    "variants", "bench", "probes", "load", "capture", "chip", "teardown", "pipeline", "report",
    "regress", "hardware", "seed", "commands", "cli", "__main__",
]  # fmt: skip


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """closebench modules (or packages) that PATH imports, anywhere in the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in modules else base)
    return {m for m in found if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    """module -> the closebench modules it imports."""
    files = sorted(SRC.rglob("*.py"))
    modules = {_module_name(p) for p in files}
    return {_module_name(path): _imports(path, modules) for path in files}


def _edges() -> list[tuple[str, str]]:
    return [(a, b) for a, targets in _graph().items() for b in targets]


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_no_import_cycles() -> None:
    try:
        tuple(TopologicalSorter(_graph()).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_every_package_is_a_known_stage() -> None:
    stages = {_stage(m) for m in _graph()}
    assert stages - SHARED - set(STAGES) == set()


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_imports_only_from_stages_above_it(stage: str) -> None:
    allowed = SHARED | set(STAGES[: STAGES.index(stage) + 1])
    back = sorted(
        f"{a} -> {b}" for a, b in _edges() if _stage(a) == stage and _stage(b) not in allowed
    )
    assert back == []


def test_the_readme_table_lists_the_stages_in_this_order() -> None:
    readme = (SRC.parents[1] / "README.md").read_text()
    table = readme[readme.index("## Where the code lives") :].split("\n\n")[2]
    rows = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
    named = [s for row in rows for s in STAGES if f"`{s}/`" in row]
    assert named == [s for s in STAGES if s in named] and len(named) >= 10
