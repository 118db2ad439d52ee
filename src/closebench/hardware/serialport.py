"""Opening a board's serial port: clear errors for a missing or busy port, and an exclusive
lock so the poller, an upload and esptool never talk to the same board at once."""

from __future__ import annotations

import errno
import fcntl
import os

import serial

from closebench.errors import UserError


def check_port(port: str, board: str) -> None:
    """Fail early (before any flashing starts) if the port is absent or held by someone else.

    Uses the same lock pyserial's `exclusive=True` (and so esptool) takes: flock(LOCK_EX)."""
    if not os.path.exists(port):
        raise UserError(f"board {board}: serial port {port} not found (is the board plugged in?)")
    try:
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except PermissionError:
        raise UserError(
            f"board {board}: no permission to open {port} (add yourself to the 'dialout' group)"
        ) from None
    except OSError as exc:
        raise UserError(f"board {board}: cannot open {port}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise UserError(
                f"board {board}: serial port {port} is busy (another program holds it; "
                f"see `fuser {port}`)"
            ) from None
        raise UserError(f"board {board}: cannot lock {port}: {exc.strerror}") from None
    finally:
        os.close(fd)  # closing the descriptor releases the probe lock


def open_console(port: str, baud: int, board: str) -> serial.Serial:
    """The board's console, locked for this process until closed."""
    check_port(port, board)
    try:
        # A short read timeout keeps reader loops responsive to stop requests.
        return serial.Serial(port, baud, timeout=0.05, exclusive=True)
    except serial.SerialException as exc:
        if "exclusively lock" in str(exc):
            raise UserError(f"board {board}: serial port {port} is busy") from None
        raise UserError(f"board {board}: cannot open {port}: {exc}") from None
