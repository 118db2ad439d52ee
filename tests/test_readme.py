"""Every command in the README and docs/ names a real nox session and parses with the real CLI.

Commands are read from fenced blocks (in `console` blocks only the `$ ` lines; a trailing `\\`
joins the next line) and from table rows that start with a `nox -s` cell. Lines that are not
ours (`dask`, `export`, `python3 ...`) are left to their own tools.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

from closebench.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOX_ONLY = {"tests", "lint"}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.S | re.M)
ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")


def nox_sessions() -> set[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any("nox.session" in ast.unparse(d) for d in node.decorator_list)
    }


def _block_lines(language: str, body: str) -> list[str]:
    """The block's command lines, continuations joined, comments and prompts dropped."""
    lines: list[str] = []
    pending = ""
    for raw in body.splitlines():
        if language == "console" and not pending:
            if not raw.startswith("$ "):
                continue
            raw = raw[2:]
        line = pending + re.sub(r"(^|\s)#.*$", "", raw).strip()
        pending = line[:-1] + " " if line.endswith("\\") else ""
        if not pending:
            lines.append(line)
    return lines


def _program(line: str) -> list[str]:
    """The words from our program on (sudo, ./dev and VAR=value prefixes dropped), or []."""
    words = shlex.split(re.sub(r"<[^>]+>", "X", line.replace("[", "").replace("]", "")))
    while words and (words[0] in ("sudo", "./dev") or ENV_ASSIGNMENT.match(words[0])):
        words = words[1:]
    if words and words[0].endswith("/closebench"):
        words[0] = "closebench"
    return words if words and words[0] in ("nox", "closebench") else []


def commands_in(text: str) -> list[str]:
    lines = [ln for lang, body in FENCE.findall(text) for ln in _block_lines(lang, body)]
    lines += re.findall(r"^\| `(nox -s [^`]*)`", text, flags=re.M)
    return [ln for ln in lines if ln and _program(ln)]


def readme_commands() -> list[str]:
    return commands_in((ROOT / "README.md").read_text())


def doc_commands() -> list[tuple[str, str]]:
    return [(p.relative_to(ROOT).as_posix(), c) for p in DOCS for c in commands_in(p.read_text())]


def test_the_two_commands_are_there() -> None:
    cmds = readme_commands()
    assert "./dev nox -s compare" in cmds
    assert "./dev nox -s tests" in cmds
    assert "./dev nox -s tests" in (ROOT / ".ci/run").read_text()


def test_commands_are_found_in_every_kind_of_block() -> None:
    text = (
        "```sh\n./dev nox -s probe -- --variant x   # why\nexport A=1\n```\n"
        "```console\n$ closebench run --variants a \\\n    --links ideal\nclosebench output\n```\n"
        "| `nox -s perf` | benchmarks |\n"
    )
    assert commands_in(text) == [
        "./dev nox -s probe -- --variant x",
        "closebench run --variants a  --links ideal",
        "nox -s perf",
    ]


@pytest.mark.parametrize(("doc", "line"), doc_commands())
def test_documented_command_is_real(doc: str, line: str) -> None:
    words = _program(line)
    if words[0] == "nox":
        session = words[2]
        assert session in nox_sessions(), f"{doc}: no nox session {session!r}"
        if session in NOX_ONLY:
            return
        args = [session, *words[words.index("--") + 1 :]] if "--" in words else [session]
        args = [{"N": "2", "A,B": "nodemcu-3.0"}.get(a, a) for a in args]
    else:
        args = words[1:]
    if args[0] == "report" and len(args) == 1:
        args.append("RUN_DIR")
    try:
        build_parser().parse_args(args)
    except SystemExit as exc:
        pytest.fail(f"{doc}: `{line}` does not parse: exit {exc.code}")
