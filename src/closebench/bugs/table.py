"""The bug x stack table as text (the command's output) and its footnotes."""

from __future__ import annotations

from typing import Any

from closebench.bugs.judge import SHORT


def stack_table(data: dict[str, Any]) -> str:
    """Rows: bugs; columns: stacks; cells PRESENT / absent / n/a / ? / - (see legend)."""
    stacks = list(data["stacks"])
    ids = [b["id"] for b in data["bugs"]]
    width = max(len(i) for i in ids)
    cols = [max(len(s), 7) for s in stacks]
    head = " ".join(["bug".ljust(width), *(s.ljust(c) for s, c in zip(stacks, cols, strict=True))])
    lines = [head, "-" * len(head)]
    for bug in ids:
        cells = [
            SHORT.get(data["table"][s][bug]["status"], "?").ljust(c)
            for s, c in zip(stacks, cols, strict=True)
        ]
        lines.append(" ".join([bug.ljust(width), *cells]))
    lines.append(
        "PRESENT: the buggy signature measured; absent: the fixed one; n/a: does not apply "
        "(why below); ?: neither; -: not measured"
    )
    return "\n".join(lines)


def footnotes(data: dict[str, Any]) -> list[str]:
    """One line per cell that is not plainly present/absent: what was measured or why not."""
    out = []
    for stack in data["stacks"]:
        for bug, cell in data["table"][stack].items():
            if cell["status"] in ("present", "absent"):
                out.append(f"{bug} @ {stack}: {cell['status']}, measured {cell['measured']!r}")
            else:
                out.append(f"{bug} @ {stack}: {cell['status']}: {cell['detail']}")
    return out


def pair_lines(data: dict[str, Any]) -> list[str]:
    lines = []
    for p in data.get("pairs") or []:
        b, a = p["before"], p["after"]
        lines.append(
            f"{p['bug']} on {p['variant']}: before {b['stack']} {b['status']} "
            f"({b['measured']!r}) -> fix {a['stack']} {a['status']} ({a['measured']!r}): "
            f"{p['result']}"
        )
    for bug, why in (data.get("no_pair") or {}).items():
        lines.append(f"{bug}: no pair: {why}")
    return lines
