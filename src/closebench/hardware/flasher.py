"""Executing a flash plan: esptool through its public Python API (`esptool.cmds`, esptool 5.x:
detect_chip -> run_stub -> attach_flash -> erase_flash -> write_flash -> reset_chip, as in the
"Embedding into Custom Scripts" page), then the app upload and the readiness wait.

Every step that fails raises a UserError naming the step and the board; success is only
reported after the last step, so a half-flashed board is never reported as flashed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from closebench.errors import UserError
from closebench.hardware import upload
from closebench.hardware.consoles import ConsoleError, LuaPrompt, RawRepl
from closebench.hardware.images import Opener, materialize_image
from closebench.hardware.plan import ROM_BAUD, FlashPlan
from closebench.hardware.ready import wait_ready
from closebench.hardware.secrets import Secrets
from closebench.hardware.serialport import check_port, open_console

MICROPYTHON_BOOT_TIMEOUT_S = 60.0


@dataclass
class EsptoolApi:
    """The esptool.cmds functions we call; tests inject fakes (no port is ever opened)."""

    detect_chip: Callable[..., Any]
    run_stub: Callable[..., Any]
    attach_flash: Callable[..., Any]
    erase_flash: Callable[..., Any]
    write_flash: Callable[..., Any]
    reset_chip: Callable[..., Any]

    @classmethod
    def real(cls) -> EsptoolApi:
        from esptool import cmds  # imported late: esptool pulls in rich/click at import

        return cls(cmds.detect_chip, cmds.run_stub, cmds.attach_flash, cmds.erase_flash,
                   cmds.write_flash, cmds.reset_chip)  # fmt: skip


def chip_family(chip_name: str) -> str:
    """esptool's CHIP_NAME ("ESP8266", "ESP32", "ESP32-S3") -> the lab's spelling."""
    return chip_name.lower().replace("-", "")


@dataclass
class FlashRun:
    plan: FlashPlan
    log: Callable[[str], None] = print
    done: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.log(f"[{self.plan.board.name}] {name} ...")
        try:
            yield
        except UserError as exc:
            raise UserError(f"board {self.plan.board.name}: step '{name}' failed: {exc}") from None
        except Exception as exc:  # esptool raises FatalError, serial errors, OSError...
            after = f" (done: {', '.join(self.done)})" if self.done else ""
            raise UserError(
                f"board {self.plan.board.name}: step '{name}' failed: "
                f"{type(exc).__name__}: {exc}{after}; the board is not ready, flash again"
            ) from None
        self.done.append(name)


def flash_image(run: FlashRun, api: EsptoolApi, opener: Opener | None = None) -> None:
    plan = run.plan
    with run.step("image"):
        materialize_image(plan.image, opener)
        for seg in plan.segments:
            if not seg.path.is_file():
                raise UserError(f"segment file {seg.path} (offset {hex(seg.offset)}) not found")
    with run.step("port"):
        check_port(plan.board.port, plan.board.name)
    with run.step("connect"):
        esp_cm = api.detect_chip(plan.board.port, baud=ROM_BAUD)
    with esp_cm as esp:
        with run.step("chip check"):
            found = chip_family(getattr(esp, "CHIP_NAME", "unknown"))
            if found != plan.chip:
                raise UserError(
                    f"esptool detected {found} on {plan.board.port}, but the lab and variant "
                    f"say {plan.chip}; nothing was written"
                )
        with run.step("stub"):
            esp = api.run_stub(esp)
            if plan.flash_baud > ROM_BAUD:
                esp.change_baud(plan.flash_baud)
            api.attach_flash(esp)
        if plan.erase_first:
            with run.step("erase"):
                api.erase_flash(esp)
        with run.step("write"):
            # write_flash verifies each segment's MD5 after writing (stub) and raises on error.
            api.write_flash(
                esp,
                [(seg.offset, str(seg.path)) for seg in plan.segments],
                flash_mode=plan.flash_mode,
                flash_size=plan.flash_size,
                flash_freq=plan.flash_freq,
            )
        with run.step("reset"):
            api.reset_chip(esp, "hard-reset")


def upload_app(run: FlashRun, secrets: Secrets, values: dict[str, str]) -> None:
    plan = run.plan
    if plan.upload_tool == "none":
        return
    with run.step("upload"):
        files = upload.filled_app(plan, values)
        try:
            if plan.upload_tool == "nodemcu-uploader":
                with open_console(plan.board.port, plan.board.baud, plan.board.name) as ser:
                    upload.upload_nodemcu(LuaPrompt(ser), files)
            else:
                with open_console(plan.board.port, plan.board.baud, plan.board.name) as ser:
                    RawRepl(ser).wait_friendly(MICROPYTHON_BOOT_TIMEOUT_S)
                upload.upload_mpremote(plan, files, secrets)
        except ConsoleError as exc:
            # The console echoes what we sent (the filled app); scrub before it is shown.
            raise UserError(secrets.redact(str(exc))) from None


def flash_board(
    plan: FlashPlan,
    secrets: Secrets,
    values: dict[str, str],
    api: EsptoolApi | None = None,
    log: Callable[[str], None] = print,
) -> None:
    run = FlashRun(plan, log)
    flash_image(run, api or EsptoolApi.real())
    upload_app(run, secrets, values)
    with run.step("ready"):
        wait_ready(plan.target, plan.board.name, plan.ready_timeout_s)
    log(f"[{plan.board.name}] {plan.variant} flashed, uploaded and answering at {plan.target.url}")
