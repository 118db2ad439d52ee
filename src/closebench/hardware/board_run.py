"""`closebench run --backend hardware`: the cells of one flashed variant on one real board."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from closebench import paths
from closebench.errors import UserError
from closebench.hardware.board_cell import describe, describe_workers, run_hardware_cell
from closebench.hardware.images import describe_image, sha256_file
from closebench.hardware.lab import Board, lab_path, load_lab
from closebench.hardware.safety import LoadTarget, check_board_variant, check_load_target
from closebench.load.spread import SINGLE, LoadSpread

if TYPE_CHECKING:
    from closebench.pipeline.runner import Matrix


def run_on_hardware(
    matrix: Matrix,
    *,
    lab_file: str | None,
    board_name: str | None,
    dry_run: bool,
    kind: str,
    results: Path | None,
    spread: LoadSpread = SINGLE,
    log: Callable[[str], None] = print,
) -> Path | None:
    from closebench.pipeline.runner import Run, finish

    lab = load_lab(lab_path(lab_file))
    if not board_name:
        raise UserError("--backend hardware needs --board NAME (a board of the lab file)")
    board = lab.board(board_name)
    if len(matrix.variants) != 1 or matrix.variants[0].hardware is None:
        raise UserError(
            "--backend hardware runs the one variant flashed on the board: "
            "give --variants NAME (flash it first with `closebench flash`)"
        )
    variant = matrix.variants[0]
    check_board_variant(lab, board, variant.name, variant.chip)
    target = check_load_target(lab)
    plans = matrix.cells()
    if dry_run:
        for plan in plans:
            for line in describe(plan, board, target, spread):
                log(line)
        for line in describe_workers(spread, target, len(plans)):
            log(line)
        return None
    assert variant.hardware is not None
    image = describe_image(variant.hardware.image, variant.path, paths.cache_dir(), variant.name)
    run = Run(kind, matrix, results, backend="hardware")
    run.manifest["hardware"] = _hardware_record(board, target, image.path, spread)
    run.save()
    for plan in plans:  # one board: one cell at a time
        try:
            cell = plan.record(**run_hardware_cell(plan, lab, board, target, run.dir, spread))
        except UserError as exc:
            cell = plan.record(status=f"failed: {exc}")
        except KeyboardInterrupt:
            run.manifest["cells"].append(plan.record(status="interrupted"))
            run.save()
            raise
        run.manifest["cells"].append(cell)
        run.save()
        log(f"{plan.id}: {cell['status']}")
    finish(run, len(plans))
    return run.dir


def _hardware_record(
    board: Board, target: LoadTarget, image: Path, spread: LoadSpread
) -> dict[str, Any]:
    """The run manifest's `hardware` section: the board, where load went, the image flashed."""
    return {
        "board": board.name,
        "chip": board.chip,
        "port": board.port,
        "device_address": target.address,
        "http_port": target.http_port,
        "capture_interface": target.interface,
        "image": str(image),
        "image_sha256": sha256_file(image) if image.exists() else None,
        "ran_on_hardware": True,
        "load": spread.record(),
    }
