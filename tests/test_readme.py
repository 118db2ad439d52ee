"""Every command in the README names a real nox session and parses with the real CLI."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

from closebench.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
NOX_ONLY = {"tests", "lint"}


def nox_sessions() -> set[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any("nox.session" in ast.unparse(d) for d in node.decorator_list)
    }


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    lines = [ln.split("#")[0].strip() for b in blocks for ln in b.splitlines()]
    lines += re.findall(r"^\| `(nox -s [^`]*)`", text, flags=re.M)
    return [ln for ln in lines if ln]


def test_the_two_commands_are_there() -> None:
    cmds = readme_commands()
    assert "./dev nox -s compare" in cmds
    assert "./dev nox -s tests" in cmds
    assert "./dev nox -s tests" in (ROOT / ".ci/run").read_text()


@pytest.mark.parametrize("line", readme_commands())
def test_readme_command_is_real(line: str) -> None:
    words = shlex.split(re.sub(r"<[^>]+>", "X", line.replace("[", "").replace("]", "")))
    words = [w for w in words if w not in ("sudo", "./dev")]
    if words[0] == "nox":
        session = words[2]
        assert session in nox_sessions(), f"no nox session {session!r}"
        if session in NOX_ONLY:
            return
        args = [session, *words[words.index("--") + 1 :]] if "--" in words else [session]
        args = [{"N": "2", "A,B": "nodemcu-3.0"}.get(a, a) for a in args]
    else:
        assert words[0] == "closebench", line
        args = words[1:]
    if args[0] == "report" and len(args) == 1:
        args.append("RUN_DIR")
    try:
        build_parser().parse_args(args)
    except SystemExit as exc:
        pytest.fail(f"`{line}` does not parse: exit {exc.code}")
