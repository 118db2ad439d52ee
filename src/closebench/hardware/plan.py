"""The flash plan: every step `closebench flash` will take for one variant on one board, built
without touching a port or the network, so `--dry-run` can print exactly what will happen.

The esptool argv shown is the esptool v5 command line equivalent to the Python API calls the
flasher makes (`esptool.cmds.*`), so a user can reproduce a step by hand.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from closebench import paths
from closebench.errors import UserError
from closebench.hardware.images import ImageSource, describe_image
from closebench.hardware.lab import Board, Lab
from closebench.hardware.safety import LoadTarget, check_board_variant

# Values esptool 5.x accepts for write-flash (esptool/__init__.py add_spi_flash_options).
FLASH_MODES = ("qio", "qout", "dio", "dout", "keep")
FLASH_SIZES = (
    "detect", "keep", "256KB", "512KB", "1MB", "2MB", "2MB-c1", "4MB", "4MB-c1", "8MB", "16MB",
)  # fmt: skip
FLASH_FREQS = ("keep", "80m", "40m", "26m", "20m")
UPLOAD_TOOLS = ("nodemcu-uploader", "mpremote", "none")
# The ROM bootloader syncs at 115200 whatever the final speed; esptool changes baud after the
# stub runs (esptool/__init__.py prepare_esp_object does the same).
ROM_BAUD = 115200


class HardwareSpec(Protocol):
    """The `hardware` section of a variant manifest (closebench.variants.manifest.Hardware)."""

    chip: str
    image: Mapping[str, Any]
    flash_mode: str
    flash_size: str
    flash_freq: str
    baud: int
    erase_first: bool
    segments: Sequence[Any]
    upload_tool: str
    upload_files: Sequence[Any]
    app_dir: Path


class VariantLike(Protocol):
    name: str
    hardware: HardwareSpec | None


def console_style(upload_tool: str) -> str:
    """The serial console style of a firmware, from how its app is uploaded."""
    return {"nodemcu-uploader": "nodemcu-lua", "mpremote": "micropython"}.get(
        upload_tool, "heap-lines"
    )


@dataclass(frozen=True)
class Segment:
    offset: int
    path: Path
    is_image: bool


@dataclass(frozen=True)
class UploadFile:
    source: Path
    dest: str


@dataclass(frozen=True)
class FlashPlan:
    variant: str
    board: Board
    chip: str
    flash_baud: int
    image: ImageSource
    erase_first: bool
    flash_mode: str
    flash_size: str
    flash_freq: str
    segments: tuple[Segment, ...]
    upload_tool: str
    uploads: tuple[UploadFile, ...]
    target: LoadTarget
    ready_timeout_s: float
    wifi_env: tuple[str, str]
    netmask: str
    gateway: str

    @property
    def console(self) -> str:
        """How the serial poller talks to this firmware (see poller.py)."""
        return console_style(self.upload_tool)

    def _esptool_base(self) -> list[str]:
        return ["esptool", "--chip", self.chip, "--port", self.board.port,
                "--baud", str(self.flash_baud)]  # fmt: skip

    def esptool_erase_argv(self) -> list[str] | None:
        return [*self._esptool_base(), "erase-flash"] if self.erase_first else None

    def esptool_write_argv(self) -> list[str]:
        argv = [*self._esptool_base(), "write-flash", "--flash-mode", self.flash_mode,
                "--flash-size", self.flash_size, "--flash-freq", self.flash_freq]  # fmt: skip
        for seg in self.segments:
            argv += [hex(seg.offset), str(seg.path)]
        return argv

    def upload_commands(self) -> list[str]:
        """Human-readable upload steps; secrets never appear (files are filled at run time)."""
        port, baud = self.board.port, self.board.baud
        if self.upload_tool == "mpremote":
            argv = ["mpremote", "connect", port]
            for up in self.uploads:
                filled = f"<{up.source.name} with placeholders filled>"
                argv += ["fs", "cp", filled, f":{up.dest}", "+"]
            argv.append("reset")
            return [shlex.join(argv)]
        if self.upload_tool == "nodemcu-uploader":
            lines = [f"Lua prompt on {port} @ {baud}: wait for '> ' (first boot formats the FS)"]
            for up in self.uploads:
                lines.append(
                    f'file.open("{up.dest}","w"); file.write(<{up.source.name} with placeholders '
                    f"filled, in chunks>); file.close(); check size with file.list()"
                )
            lines.append("node.restart()")
            names = " ".join(up.dest for up in self.uploads)
            lines.append(f"(by hand: nodemcu-uploader --port {port} --baud {baud} upload {names})")
            return lines
        return ["none: the app is part of the image"]

    def render(self, environ: Mapping[str, str] | None = None, refusals: Sequence[str] = ()) -> str:
        """The plan; `refusals`: checks a real run would refuse on (dry run), shown last."""
        env = os.environ if environ is None else environ
        t = self.target
        checked = (
            f"checked: private/link-local, in {t.subnet} on {t.interface}"
            if t.subnet
            else "NOT checked: see below"
        )
        out = [
            f"flash plan: variant {self.variant} on board {self.board.name} "
            f"({self.chip}, {self.board.port})",
            f"  1. image: {self.image.describe()}",
        ]
        for seg in self.segments:
            state = "" if seg.is_image or seg.path.exists() else " (MISSING)"
            out.append(f"       segment {hex(seg.offset)} <- {seg.path}{state}")
        n = 2
        erase = self.esptool_erase_argv()
        out.append(f"  {n}. erase: " + (shlex.join(erase) if erase else "skipped (recipe)"))
        out.append(f"  {n + 1}. write: {shlex.join(self.esptool_write_argv())}")
        out.append(f"       chip check: refuse unless esptool detects {self.chip}")
        out.append(f"  {n + 2}. upload ({self.upload_tool}):")
        out += [f"       {line}" for line in self.upload_commands()]
        out.append(
            f"  {n + 3}. ready: HTTP HEAD {t.url} until answered, at most "
            f"{self.ready_timeout_s:g} s"
        )
        ssid_env, pw_env = self.wifi_env
        out += [
            f"  load target: {t.url} only ({checked})",
            f"  capture: interface {t.interface}, filter '{t.capture_filter}'",
            f"  device net: {t.address} netmask {self.netmask} gateway {self.gateway}",
            f"  resource polling: {self.console} on {self.board.port} @ {self.board.baud}",
            f"  Wi-Fi: SSID from ${ssid_env} ({_set(env, ssid_env)}), password from ${pw_env} "
            f"({_set(env, pw_env)}); values ******** are never written anywhere",
        ]
        out += [f"  would refuse: {why}" for why in refusals]
        return "\n".join(out)


def _set(env: Mapping[str, str], name: str) -> str:
    return "set" if env.get(name) else "NOT SET"


def parse_offset(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        offset = value
    elif isinstance(value, str):
        try:
            offset = int(value, 0)
        except ValueError:
            raise UserError(f"{where}: invalid offset {value!r}") from None
    else:
        raise UserError(f"{where}: offset must be an integer or '0x...' string")
    if offset < 0 or offset % 0x1000:
        # esptool writes whole 4 KiB sectors; an unaligned offset is a recipe typo.
        raise UserError(f"{where}: offset {value!r} is not 4 KiB aligned")
    return offset


def _field(obj: Any, key: str) -> Any:
    return obj[key] if isinstance(obj, Mapping) else getattr(obj, key)


def _variant_dir(variant: Any) -> Path:
    # Variant.path (closebench.variants.manifest) is the variant folder; relative image and
    # segment paths in variant.toml are relative to it.
    for attr in ("path", "dir", "directory"):
        value = getattr(variant, attr, None)
        if isinstance(value, Path):
            return value.parent if value.is_file() else value
    return paths.variants_dir() / variant.name


def _choice(value: str, allowed: Sequence[str], where: str) -> str:
    if value not in allowed:
        raise UserError(f"{where}: {value!r} is not one of {', '.join(allowed)}")
    return value


def build_flash_plan(
    variant: VariantLike, board: Board, lab: Lab, target: LoadTarget, cache: Path | None = None
) -> FlashPlan:
    """Every step for `variant` on `board`; pure apart from `exists()` checks for display."""
    hw = variant.hardware
    name = variant.name
    if hw is None:
        raise UserError(f"variant {name!r} has no hardware section: it cannot be flashed")
    check_board_variant(lab, board, name, hw.chip)
    where = f"variant {name}: hardware"
    base = _variant_dir(variant)
    image = describe_image(hw.image, base, cache or paths.cache_dir(), name)
    segments: list[Segment] = []
    for i, seg in enumerate(hw.segments):
        offset = parse_offset(_field(seg, "offset"), f"{where}.segments[{i}].offset")
        file = str(_field(seg, "file"))
        if file == "image":
            segments.append(Segment(offset, image.path, True))
        else:
            segments.append(Segment(offset, (base / file).resolve(), False))
    if not any(s.is_image for s in segments):
        raise UserError(f"{where}.segments: no segment writes the image")
    if len({s.offset for s in segments}) != len(segments):
        raise UserError(f"{where}.segments: two segments share an offset")
    tool = _choice(hw.upload_tool, UPLOAD_TOOLS, f"{where}.upload_tool")
    uploads = tuple(
        UploadFile((Path(hw.app_dir) / str(f)).resolve(), Path(str(f)).name)
        for f in hw.upload_files
    )
    if tool != "none" and not uploads:
        raise UserError(f"{where}.upload_files: {tool} needs at least one file")
    plan = FlashPlan(
        variant=name,
        board=board,
        chip=hw.chip,
        flash_baud=board.flash_baud or int(hw.baud),
        image=image,
        erase_first=bool(hw.erase_first),
        flash_mode=_choice(hw.flash_mode, FLASH_MODES, f"{where}.flash_mode"),
        flash_size=_choice(hw.flash_size, FLASH_SIZES, f"{where}.flash_size"),
        flash_freq=_choice(hw.flash_freq, FLASH_FREQS, f"{where}.flash_freq"),
        segments=tuple(sorted(segments, key=lambda s: s.offset)),
        upload_tool=tool,
        uploads=uploads,
        target=target,
        ready_timeout_s=lab.device.ready_timeout_s,
        wifi_env=(lab.wifi_ssid_env, lab.wifi_password_env),
        netmask=lab.device.netmask,
        gateway=lab.device.gateway,
    )
    return plan
