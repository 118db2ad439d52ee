"""A bench held inside fresh network + PID namespaces that dies whole with its parent.

`unshare --net --pid --fork --kill-child` (measured here): when unshare dies, its child (PID 1
of the new PID namespace) gets SIGKILL, the kernel kills everything else in that PID
namespace, and the network namespace with its TAPs goes away with the last process. We set
PDEATHSIG on unshare so that even a SIGKILL of the orchestrator tears the bench down.
Nothing is named under /run/netns, so nothing can be left behind and two runs never collide.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from closebench.errors import UserError

_PR_SET_PDEATHSIG = 1
ACTIVE: set[Sandbox] = set()  # every live sandbox, so Ctrl-C can stop them all in order


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def check_can_sandbox() -> None:
    """One clear line when this machine cannot run the emulated bench."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        raise UserError(
            "the emulated bench needs `unshare` and `ip`: apt-get install util-linux iproute2"
        )
    if not Path("/dev/net/tun").exists():
        raise UserError(
            "/dev/net/tun is missing: the emulated bench needs TUN/TAP "
            "(load the tun module or run on a kernel with CONFIG_TUN)"
        )
    if os.geteuid() != 0:
        raise UserError(
            "the emulated bench needs root for network namespaces and TAP devices "
            "(run as root, e.g. `sudo ./dev nox -s compare`)"
        )


class Sandbox:
    """One process tree in fresh net+pid namespaces; `pid` is its PID 1 as the host sees it."""

    def __init__(self, argv: list[str], *, log: Path, env: dict[str, str] | None = None) -> None:
        check_can_sandbox()
        # --mount-proc: inside, /proc must show the sandbox's own PIDs (nsenter by PID relies on it)
        cmd = ["unshare", "--net", "--pid", "--mount-proc", "--kill-child", "--", *argv]
        self.log_path = log
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent,
            # Own session: a terminal Ctrl-C reaches only the orchestrator, which then stops
            # the bench in order (flush captures first) instead of everything dying at once.
            start_new_session=True,
        )
        ACTIVE.add(self)
        self.pid = self._find_child()

    def _find_child(self) -> int:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                text = children.read_text().split()
            except FileNotFoundError:
                text = []
            if text:
                return int(text[0])
            if self.proc.poll() is not None:
                raise UserError(
                    f"`unshare --net --pid` exited with {self.proc.returncode}: see {self.log_path}"
                )
            time.sleep(0.01)
        raise UserError(f"the bench sandbox did not start within 10 s: see {self.log_path}")

    def netns_path(self) -> str:
        return f"/proc/{self.pid}/ns/net"

    def enter_cmd(self) -> list[str]:
        """Prefix that runs a host command inside the bench's client namespace."""
        return ["nsenter", f"--net={self.netns_path()}"]

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout)

    def stop(self, grace_s: float = 15.0) -> int:
        """Ask PID 1 to finish (it flushes captures), then kill the whole tree."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # --kill-child then SIGKILLs the namespace's PID 1
                self.proc.wait()
        self._log.close()
        ACTIVE.discard(self)
        return self.proc.returncode

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_all() -> None:
    for box in list(ACTIVE):
        box.stop()
