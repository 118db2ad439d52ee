"""Judge probe observations against a variant's [expect] values.

A behaviour the manifest states is judged against the manifest (value, tolerance, citation).
A few behaviours follow from the stack itself and no manifest states them (how lwIP's
tcp_timewait_input answers a SYN, RFC 5961 RST checks, the FIN_WAIT_2 timer); for those the
expectation comes from STACK_DEFAULTS below, with the source it was read from. Anything else
is reported unjudged (pass = null), never guessed.

A failure is flagged known_difference when the manifest already admits that the emulation
differs there (its expectation note says "known difference", or a known_differences entry
names the behaviour); verify() reports those but does not fail on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from closebench.variants.manifest import Variant

LWIP_213 = "lwip-tcpip/lwip@6ca936f6b588cee702c638eee75c2436e6cf75de"
LWIP_221 = "lwip-tcpip/lwip@77dcd25a72509eb83f72b033d219b1d40cd8eb95"
LINUX = "torvalds/linux@v6.1"


@dataclass(frozen=True)
class Expected:
    value: Any
    tolerance: float | None
    citation: str
    note: str = ""
    source: str = "manifest"


# (kind, behaviour) -> (value, tolerance, citation, note)
STACK_DEFAULTS: dict[tuple[str, str], tuple[Any, float | None, str, str]] = {
    ("lwip", "syn_in_time_wait"): (
        "in-window:rst below:ack above:ack",
        None,
        f"{LWIP_213}:src/core/tcp_in.c",
        "tcp_timewait_input: in-window SYN -> RST, any "
        "other segment with length -> ACK (same in 2.2.1)",
    ),
    ("linux", "syn_in_time_wait"): (
        "in-window:syn-ack below:ack above:syn-ack",
        None,
        f"{LINUX}:net/ipv4/tcp_minisocks.c",
        "tcp_timewait_state_process: a SYN above "
        "rcv_nxt reopens (RFC 1122 4.2.2.13), others get a rate-limited ACK",
    ),
    ("lwip", "rst_validation"): (
        "oow:ignored inexact:challenge_ack exact:accepted",
        None,
        f"{LWIP_213}:src/core/tcp_in.c",
        "tcp_process: RST accepted only at rcv_nxt; in "
        "window -> challenge ACK (RFC 5961 3.2, CVE-2004-0230)",
    ),
    ("linux", "rst_validation"): (
        "oow:ignored inexact:challenge_ack exact:accepted",
        None,
        f"{LINUX}:net/ipv4/tcp_input.c",
        "tcp_validate_incoming: RFC 5961 challenge ACK",
    ),
    ("lwip", "fin_wait_2_s"): (
        20.0,
        2.5,
        f"{LWIP_213}:src/include/lwip/priv/tcp_priv.h",
        "TCP_FIN_WAIT_TIMEOUT 20000 ms, hard-coded; counted from the PCB's last activity "
        "(pcb->tmr), so an app that waits before closing (Arduino: up to 2 s) times out sooner",
    ),
    ("linux", "fin_wait_2_s"): (
        60.0,
        1.5,
        f"{LINUX}:include/net/tcp.h",
        "TCP_FIN_TIMEOUT = net.ipv4.tcp_fin_timeout 60 s",
    ),
    ("linux", "client_fin_ack"): (
        "immediate",
        None,
        f"{LINUX}:net/ipv4/tcp_input.c",
        "tcp_fin, TCP_FIN_WAIT2: send ACK and enter TIME_WAIT (tcp_send_ack; tcp_time_wait)",
    ),
    ("lwip", "late_fin_answer"): (
        "rst",
        None,
        f"{LWIP_213}:src/core/tcp_in.c",
        "no matching PCB -> tcp_rst",
    ),
    ("linux", "late_fin_answer"): (
        "rst",
        None,
        f"{LINUX}:net/ipv4/tcp_ipv4.c",
        "no socket -> tcp_v4_send_reset",
    ),
}

# Words a known_differences entry uses for a behaviour the emulation cannot reproduce.
DIFFERENCE_WORDS = {
    "initial_rto_ms": ("initial rto",),
    "fin_wait_2_s": ("fin_wait_2 timeout",),
    "time_wait_s": ("time_wait length",),
    "rst_validation": ("rst validation",),
}


def expected_for(variant: Variant, behaviour: str) -> Expected | None:
    exp = variant.expect.get(behaviour)
    if exp is not None:
        return Expected(exp.value, exp.tolerance, str(exp.cite), exp.note or exp.cite.note)
    if behaviour == "last_ack_s" and variant.kind == "lwip" and "time_wait_s" in variant.expect:
        tw = variant.expect["time_wait_s"]
        return Expected(
            tw.value,
            tw.tolerance,
            f"{LWIP_213}:src/core/tcp.c",
            f"tcp_slowtmr frees a LAST_ACK PCB after 2*TCP_MSL, the TIME_WAIT length ({tw.cite})",
            source="stack",
        )
    default = STACK_DEFAULTS.get((variant.kind, behaviour))
    if default is None:
        return None
    value, tol, cite, note = default
    return Expected(value, tol, cite, note, source="stack")


def _matches(measured: Any, exp: Expected, bound: str | None) -> bool:
    value = exp.value
    if isinstance(value, bool) or isinstance(measured, bool):
        return measured is value
    if isinstance(value, int | float) and isinstance(measured, int | float):
        tol = exp.tolerance or 0.0
        if bound == "lower":  # watched W seconds and it was still going: true value >= W
            return value >= measured - tol
        return abs(measured - value) <= tol
    return str(measured).strip().lower() == str(value).strip().lower()


def _known_difference(variant: Variant, behaviour: str, exp: Expected) -> bool:
    if "known difference" in exp.note.lower():
        return True
    words = DIFFERENCE_WORDS.get(behaviour, ())
    return any(w in d.lower() for d in variant.emulation.known_differences for w in words)


def judge(variant: Variant, obs: dict[str, Any]) -> dict[str, Any]:
    """One result row: {behaviour, measured, expected, tolerance, pass, citation, detail}."""
    behaviour = obs["behaviour"]
    measured = obs["measured"]
    bound = obs.get("bound")
    shown = f">= {measured}" if bound == "lower" and measured is not None else measured
    exp = expected_for(variant, behaviour)
    row: dict[str, Any] = {
        "behaviour": behaviour,
        "measured": shown,
        "expected": None if exp is None else exp.value,
        "tolerance": None if exp is None else exp.tolerance,
        "pass": None,
        "citation": None if exp is None else exp.citation,
        "detail": obs.get("detail", ""),
        "bound": bound,
        "expected_from": None if exp is None else exp.source,
        "data": obs.get("data") or {},
    }
    if exp is not None and measured is not None:
        row["pass"] = _matches(measured, exp, bound)
        if row["pass"] is False and _known_difference(variant, behaviour, exp):
            row["known_difference"] = True
    return row
