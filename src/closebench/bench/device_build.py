"""Build the emulated device `cbdev`: pinned lwIP + a variant's options + the device sources."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from closebench.bench.lwip_source import fetch_lwip, file_lock, pin_for
from closebench.bench.lwipopts import OptionValue, check_option_names, render_lwipopts
from closebench.errors import UserError
from closebench.paths import cache_dir, device_source_dir
from closebench.schema import write_json

# The lwIP core a NO_SYS raw-API IPv4 device needs.
_CORE = "init def inet_chksum ip mem memp netif pbuf stats sys tcp tcp_in tcp_out timeouts udp"
_IPV4 = "etharp icmp ip4 ip4_addr ip4_frag"
LWIP_FILES = (
    *(f"core/{n}.c" for n in _CORE.split()),
    *(f"core/ipv4/{n}.c" for n in _IPV4.split()),
    "netif/ethernet.c",
)
BINARY = "cbdev"
CFLAGS = ("-O2", "-std=gnu11", "-Wall", "-Werror=implicit-function-declaration")


@dataclass(frozen=True)
class DeviceBuild:
    path: Path
    key: str
    lwip_version: str | None
    debian_version: str | None
    tarball_sha256: str | None
    options: dict[str, OptionValue] = field(default_factory=dict)
    exact: bool = False
    # exact: "owner/repo@commit, ..."; approximation: why not exact ("" when not asked about)
    source: str = ""

    @property
    def provenance(self) -> str:
        """What the device runs, in the words the manifest, variants and report use."""
        if self.exact:
            return f"exact source ({self.source})"
        why = f" ({self.source})" if self.source else ""
        return f"approximation on lwIP {self.lwip_version}{why}"


def _sources_digest(root: Path) -> str:
    """Hash of every file under the device source folder (names and contents)."""
    if not root.is_dir():
        raise UserError(f"device sources not found at {root}; is CLOSEBENCH_ROOT right?")
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def build_key(lwip_version: str, options: Mapping[str, OptionValue]) -> str:
    canonical = json.dumps(dict(options), sort_keys=True, separators=(",", ":"))
    payload = "\n".join([lwip_version, canonical, _sources_digest(device_source_dir())])
    return hashlib.sha256(payload.encode()).hexdigest()


def first_errors(log: str, limit: int = 3) -> str:
    """The compiler's first error lines, for a one-line message."""
    errors = [line.strip() for line in log.splitlines() if "error" in line]
    return " | ".join(errors[:limit]) or (log.strip().splitlines() or ["no output"])[-1]


def require_gcc(what: str = "gcc") -> None:
    if shutil.which("gcc") is None:
        raise UserError(
            f"gcc not found; install {what} (apt-get install {what}) to build the device"
        )


def link_binary(cmd: list[str], out_dir: Path, what: str, log: Callable[[str], None]) -> Path:
    """Run one gcc command that writes out_dir/cbdev.tmp; log it; the binary appears whole.

    The command and its output go to out_dir/build.log; a failure is one line naming the first
    errors and that log.
    """
    tmp_bin = out_dir / (BINARY + ".tmp")
    if str(tmp_bin) not in cmd:
        raise ValueError(f"the command must write {tmp_bin}")
    log(f"building {BINARY}{what} in {out_dir}")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    log_path = out_dir / "build.log"
    log_path.write_text(" ".join(cmd) + "\n\n" + proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise UserError(
            f"device build{what} failed: {first_errors(proc.stderr)} (full log: {log_path})"
        )
    os.replace(tmp_bin, out_dir / BINARY)
    return out_dir / BINARY


def _compile(build_dir: Path, src_dir: Path, log: Callable[[str], None]) -> None:
    require_gcc()
    dev = device_source_dir()
    lwip_src = src_dir / "src"
    cmd = [
        "gcc",
        *CFLAGS,
        f"-I{build_dir}",
        f"-I{dev}",
        f"-I{lwip_src / 'include'}",
        *(str(lwip_src / f) for f in LWIP_FILES),
        *(str(p) for p in sorted(dev.glob("*.c"))),
        "-o",
        str(build_dir / (BINARY + ".tmp")),
    ]
    link_binary(cmd, build_dir, "", log)


def build_device(
    lwip_version: str,
    options: Mapping[str, OptionValue],
    *,
    log: Callable[[str], None] = print,
) -> DeviceBuild:
    """Build (or reuse) the device binary for this lwIP version and option set."""
    pin = pin_for(lwip_version)
    options = dict(options)
    lwipopts_h = render_lwipopts(options)  # refuses conflicts before any download
    source = fetch_lwip(lwip_version)
    check_option_names(lwip_version, options, origin="build options")
    key = build_key(lwip_version, options)
    build_dir = cache_dir() / "builds" / key
    result = DeviceBuild(
        path=build_dir / BINARY,
        key=key,
        lwip_version=lwip_version,
        debian_version=pin.debian_version,
        tarball_sha256=source.sha256,
        options=options,
    )
    manifest = build_dir / "build.json"
    with file_lock(build_dir / ".lock"):
        if manifest.is_file() and result.path.is_file():
            log(f"{BINARY} up to date: {result.path}")
            return result
        (build_dir / "lwipopts.h").write_text(lwipopts_h)
        _compile(build_dir, source.src_dir, log)
        record = asdict(result) | {"path": str(result.path)}
        write_json(manifest, dict(sorted(record.items())), indent=2)
    return result
