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


ROOTLESS_TUN_DEFAULT = "/dev/net/tun-closebench"
BIND_TUN_ENV = "CLOSEBENCH_BIND_TUN"  # tells the sandbox's PID 1 which node to bind


def rootless() -> bool:
    """Not root (or CLOSEBENCH_ROOTLESS=1): the bench goes through a user namespace."""
    return os.geteuid() != 0 or os.environ.get("CLOSEBENCH_ROOTLESS") == "1"


def _userns_works() -> bool:
    res = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--net", "true"], capture_output=True, check=False
    )
    return res.returncode == 0


def tun_to_bind() -> str | None:
    """Rootless: a TUN node the user may open, bound over /dev/net/tun inside the sandbox.

    Measured here: a user namespace cannot open a 0600 /dev/net/tun, and a TUN fd opened
    outside gets EPERM on TUNSETIFF; a world-openable node made once by root works, and
    `ip tuntap` (which hard-codes /dev/net/tun) finds it through the bind mount."""
    if os.access("/dev/net/tun", os.R_OK | os.W_OK) and os.geteuid() != 0:
        return None
    node = os.environ.get("CLOSEBENCH_TUN", ROOTLESS_TUN_DEFAULT)
    return node if Path(node).exists() and os.access(node, os.R_OK | os.W_OK) else None


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
    if not rootless():
        return
    if not _userns_works():
        raise UserError(
            "the emulated bench needs root, or unprivileged user namespaces (this kernel "
            "refuses them): run as root, e.g. `./dev nox -s compare` (with sudo as a normal user)"
        )
    if (
        os.geteuid() != 0
        and not os.access("/dev/net/tun", os.R_OK | os.W_OK)
        and (tun_to_bind() is None)
    ):
        raise UserError(
            "rootless bench: no TUN node you may open; as root once: "
            f"`mknod -m 666 {ROOTLESS_TUN_DEFAULT} c 10 200` (or set CLOSEBENCH_TUN), "
            "or run as root, e.g. `./dev nox -s compare` (with sudo as a normal user)"
        )


class Sandbox:
    """One process tree in fresh net+pid namespaces; `pid` is its PID 1 as the host sees it."""

    def __init__(self, argv: list[str], *, log: Path, env: dict[str, str] | None = None) -> None:
        check_can_sandbox()
        self.rootless = rootless()
        # --mount-proc: inside, /proc must show the sandbox's own PIDs (nsenter by PID relies on it)
        userns = ["--user", "--map-root-user"] if self.rootless else []
        cmd = ["unshare", *userns, "--net", "--pid", "--mount-proc", "--kill-child", "--", *argv]
        if self.rootless and (node := tun_to_bind()):
            env = {**(env or os.environ), BIND_TUN_ENV: node}
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
        if self.rootless:  # joining a netns owned by our user namespace needs that one too
            return ["nsenter", f"--user=/proc/{self.pid}/ns/user", f"--net={self.netns_path()}"]
        return ["nsenter", f"--net={self.netns_path()}"]

    def wait_for_output(self, marker: bytes, timeout: float) -> bool:
        """True once the sandbox's log holds `marker`; False if it ends or times out first."""
        deadline = time.monotonic() + timeout
        while True:
            ended = self.proc.poll() is not None
            if self.log_path.exists() and marker in self.log_path.read_bytes():
                return True
            if ended or time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

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
