"""The Arduino lwIP2 builder's patches: which ones, in which order, applied as its makefile does.

The trees here are small ones the tests write (no firmware code): the order matters because a
later patch edits what an earlier one wrote, so applying them out of order fails.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from closebench.bench.exact.arduino_lwip2 import apply_patches, check_recipe, patch_order
from closebench.errors import UserError

RECIPE = "\tfor p in ../../patches/*.patch; do echo APPLY $$p; patch -d .. -p1 < $$p; done\n"
ORIGINAL = "int limit = 5;\nint other = 1;\n"


def _patch(old: str, new: str) -> str:
    return (
        "--- a/src/core/tcp.c\n+++ b/src/core/tcp.c\n@@ -1,2 +1,2 @@\n"
        f"-{old}\n+{new}\n int other = 1;\n"
    )


@pytest.fixture
def glue(tmp_path: Path) -> Path:
    root = tmp_path / "glue"
    (root / "patches" / "open").mkdir(parents=True)
    (root / "makefiles").mkdir()
    (root / "makefiles" / "Makefile.patches").write_text("patch:\n" + RECIPE)
    patches = root / "patches"
    (patches / "0001-first.patch").write_text(_patch("int limit = 5;", "int limit = 6;"))
    (patches / "0002-second.patch").write_text(_patch("int limit = 6;", "int limit = 7;"))
    (patches / "napt.patch").write_text(_patch("int limit = 7;", "int limit = 8;"))
    (patches / "napt-h.patch").write_text(_patch("int limit = 8;", "int limit = 9;"))
    (patches / "time-wait.patch.disabled").write_text("not applied\n")
    (patches / ".hidden.patch").write_text("not applied\n")
    (patches / "open" / "only-open.patch").write_text("not applied\n")
    return root


@pytest.fixture
def lwip(tmp_path: Path) -> Path:
    tree = tmp_path / "lwip"
    (tree / "src" / "core").mkdir(parents=True)
    (tree / "src" / "core" / "tcp.c").write_text(ORIGINAL)
    return tree


def test_order_is_the_shell_glob_of_top_level_patch_files(glue: Path) -> None:
    names = [p.name for p in patch_order(glue)]
    # byte order as the glob sorts these names: digits first, "napt-h" before "napt."
    assert names == ["0001-first.patch", "0002-second.patch", "napt-h.patch", "napt.patch"]


def test_recipe_is_checked_before_the_order_is_trusted(glue: Path) -> None:
    assert check_recipe(glue) == "makefiles/Makefile.patches"
    (glue / "makefiles" / "Makefile.patches").write_text("patch:\n\tgit apply patches/*\n")
    with pytest.raises(UserError, match="the builder changed"):
        check_recipe(glue)


@pytest.mark.skipif(shutil.which("patch") is None, reason="needs Debian's patch program")
def test_patches_apply_in_order_to_a_copy(glue: Path, lwip: Path) -> None:
    ordered = [p for p in patch_order(glue) if not p.name.startswith("napt")]
    apply_patches(lwip, ordered, log=lambda _m: None)
    assert (lwip / "src" / "core" / "tcp.c").read_text() == "int limit = 7;\nint other = 1;\n"


@pytest.mark.skipif(shutil.which("patch") is None, reason="needs Debian's patch program")
def test_out_of_order_patch_fails_naming_it(glue: Path, lwip: Path) -> None:
    second = glue / "patches" / "0002-second.patch"
    with pytest.raises(UserError, match=r"glue patch 0002-second\.patch does not apply"):
        apply_patches(lwip, [second], log=lambda _m: None)
    assert (lwip / "src" / "core" / "tcp.c").read_text() == ORIGINAL
