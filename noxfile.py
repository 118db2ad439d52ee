"""Sessions for closebench: thin calls into the `closebench` CLI (posargs pass through)."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


def _install(session: nox.Session, *extras: str) -> None:
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", spec)


def _cluster_extra(session: nox.Session) -> tuple[str, ...]:
    """The Dask extra only for a run given `--cluster` (a local run never imports it)."""
    asked = any(a == "--cluster" or a.startswith("--cluster=") for a in session.posargs)
    return ("cluster",) if asked else ()


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit and bench tests (bench tests need root; they skip with a reason otherwise)."""
    _install(session, "test")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON, default=False)
def compare(session: nox.Session) -> None:
    """The default matrix on the emulated bench, then the report (`-- --quick` for a smoke run)."""
    _install(session, *_cluster_extra(session))
    session.run("closebench", "compare", *session.posargs)


@nox.session(python=PYTHON, default=False)
def seed(session: nox.Session) -> None:
    """The 2016 test replayed on nodemcu-2016 and the Linux control, verdict per observation."""
    _install(session)
    session.run("closebench", "seed", *session.posargs)


@nox.session(python=PYTHON, default=False)
def run(session: nox.Session) -> None:
    """Any matrix from flags: --variants, --profiles, --links, --repetitions, --lwip."""
    _install(session, *_cluster_extra(session))
    session.run("closebench", "run", *session.posargs)


@nox.session(python=PYTHON, default=False)
def report(session: nox.Session) -> None:
    """Re-render the report of an existing run directory (no re-measuring)."""
    _install(session)
    if not session.posargs:
        session.error("Usage: nox -s report -- RUN_DIR [--allow-incomplete]")
    session.run("closebench", "report", *session.posargs)


@nox.session(python=PYTHON, default=False)
def regress(session: nox.Session) -> None:
    """Compare a run against a stored baseline: exit 1 on a significant regression."""
    _install(session)
    session.run("closebench", "regress", *session.posargs)


@nox.session(python=PYTHON, default=False)
def bugs(session: nox.Session) -> None:
    """Known close bugs against the stacks: nox -s bugs [-- --pairs --repo-dir DIR]."""
    _install(session)
    session.run("closebench", "bugs", *session.posargs)


@nox.session(python=PYTHON, default=False)
def probe(session: nox.Session) -> None:
    """Close-handling probes (fingerprint) against one or more variants."""
    _install(session)
    session.run("closebench", "probe", *session.posargs)


@nox.session(python=PYTHON, default=False)
def profiles(session: nox.Session) -> None:
    """List and validate the load and link profiles: -- [--check FILE]."""
    _install(session)
    session.run("closebench", "profiles", *session.posargs)


@nox.session(python=PYTHON, default=False)
def timing(session: nox.Session) -> None:
    """Re-measure a variant's stack on the ESP8266's core: -- measure --variant V."""
    _install(session)
    session.run("closebench", "timing", *session.posargs)


@nox.session(python=PYTHON, default=False)
def flash(session: nox.Session) -> None:
    """Flash a real board (hardware backend): -- --variant NAME --board NAME [--dry-run]."""
    _install(session)
    session.run("closebench", "flash", *session.posargs)


@nox.session(python=PYTHON, default=False)
def perf(session: nox.Session) -> None:
    """Benchmarks: device top rate, harness ratio, analyzer speed vs tshark (prints figures)."""
    _install(session, "test")
    session.run("closebench", "perf", *session.posargs)


@nox.session(python=PYTHON, default=False)
def sources(session: nox.Session) -> None:
    """Source archives for exact-source builds: -- list | fetch | hash ARCHIVE --paths P."""
    _install(session)
    if not session.posargs:
        session.error("Usage: nox -s sources -- list|fetch|hash ...")
    session.run("closebench", "sources", *session.posargs)


@nox.session(python=PYTHON, default=False)
def baseline(session: nox.Session) -> None:
    """Store a run as a named baseline: -- save RUN_DIR NAME [--variant V] [--force]."""
    _install(session)
    if not session.posargs:
        session.error("Usage: nox -s baseline -- save RUN_DIR NAME [--variant V] [--force]")
    session.run("closebench", "baseline", *session.posargs)


@nox.session(python=PYTHON, default=False)
def bisect(session: nox.Session) -> None:
    """Find the first commit whose close handling differs: -- --variant V --good REF --bad REF."""
    _install(session)
    session.run("closebench", "bisect", *session.posargs)
