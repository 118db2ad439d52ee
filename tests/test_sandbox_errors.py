"""The bench's bad-input messages: one line saying what is wrong and what to do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from closebench.bench import netsetup, sandbox
from closebench.errors import UserError


def test_no_tun_device_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real_exists = Path.exists
    monkeypatch.setattr(Path, "exists", lambda p: False if str(p) == "/dev/net/tun"
                        else real_exists(p))  # fmt: skip
    with pytest.raises(UserError, match=r"/dev/net/tun is missing") as err:
        sandbox.check_can_sandbox()
    assert "\n" not in str(err.value)


def test_no_root_and_no_user_namespaces_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(sandbox, "_userns_works", lambda: False)
    with pytest.raises(UserError, match=r"needs root.*/dev nox -s compare. \(with sudo") as err:
        sandbox.check_can_sandbox()
    assert "\n" not in str(err.value)


def test_rootless_without_a_tun_node_says_how_to_make_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(sandbox, "_userns_works", lambda: True)
    real_access = os.access
    monkeypatch.setattr(
        sandbox.os, "access", lambda p, m, **kw: "tun" not in str(p) and real_access(p, m, **kw)
    )
    with pytest.raises(UserError, match=r"mknod -m 666 /dev/net/tun-closebench") as err:
        sandbox.check_can_sandbox()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("addr", ["10.0.0.2", "192.168.1.2", "8.8.8.8", "127.0.0.1"])
def test_addresses_outside_the_benchmarking_range_are_refused(addr: str) -> None:
    with pytest.raises(UserError, match=r"198\.18\.0\.0/15"):
        netsetup.check_bench_address(addr)


def test_a_failing_command_is_named() -> None:
    with pytest.raises(UserError, match=r"`ip link show closebench-no-such-link` failed"):
        netsetup.sh(["ip", "link", "show", "closebench-no-such-link"])
