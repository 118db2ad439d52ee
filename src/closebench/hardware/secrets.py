"""Wi-Fi credentials and app placeholders.

The SSID and password exist only in this process's memory: read from the environment
variables the lab file names, substituted into app files in memory, and scrubbed from any text
that could reach a terminal, a log or an error message (`Secrets.redact`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from closebench.errors import UserError
from closebench.hardware.lab import Lab
from closebench.hardware.safety import LoadTarget

PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
KNOWN_PLACEHOLDERS = ("WIFI_SSID", "WIFI_PASSWORD", "DEVICE_IP", "NETMASK", "GATEWAY")
MASK = "********"


@dataclass(frozen=True)
class Secrets:
    ssid: str = field(repr=False)
    password: str = field(repr=False)

    def __repr__(self) -> str:  # never show values, even in a debugger or traceback
        return f"Secrets(ssid={MASK}, password={MASK})"

    def redact(self, text: str) -> str:
        # Longest first, so a password containing the SSID is fully masked.
        for value in sorted((self.ssid, self.password), key=len, reverse=True):
            if value:
                text = text.replace(value, MASK)
        return text


def wifi_secrets(lab: Lab, environ: Mapping[str, str] | None = None) -> Secrets:
    env = os.environ if environ is None else environ
    missing = [n for n in (lab.wifi_ssid_env, lab.wifi_password_env) if not env.get(n)]
    if missing:
        raise UserError(
            f"Wi-Fi credentials missing: set environment variable(s) {', '.join(missing)} "
            f"(named in {lab.file})"
        )
    return Secrets(ssid=env[lab.wifi_ssid_env], password=env[lab.wifi_password_env])


def _escape_literal(value: str, what: str) -> str:
    """Placeholders sit inside a quoted string literal in init.lua / main.py; escaping
    backslash and both quote kinds is valid in Lua and Python alike, so a password with a
    quote cannot break (or inject into) the app's source."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise UserError(f"{what} contains a control character; cannot put it in the app source")
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'")


def placeholder_values(secrets: Secrets, lab: Lab, target: LoadTarget) -> dict[str, str]:
    return {
        "WIFI_SSID": _escape_literal(secrets.ssid, lab.wifi_ssid_env),
        "WIFI_PASSWORD": _escape_literal(secrets.password, lab.wifi_password_env),
        "DEVICE_IP": target.address,
        "NETMASK": lab.device.netmask,
        "GATEWAY": lab.device.gateway,
    }


def fill_placeholders(text: str, values: Mapping[str, str], source: str) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise UserError(
                f"{source}: unknown placeholder {{{{{name}}}}} "
                f"(known: {', '.join(KNOWN_PLACEHOLDERS)})"
            )
        return values[name]

    return PLACEHOLDER.sub(sub, text)
