"""Memory settings for the analysis: reuse freed heap pages, no transparent huge pages.

Why: the analysis allocates and frees chunk-sized numpy arrays (~0.1-2 MB) many times per
chunk. With glibc's defaults, large buffers are mmapped and unmapped again and the top of
the heap is trimmed as soon as a little is free, so later chunks touch fresh pages again
(minor faults). Raising the mmap and trim thresholds lets glibc reuse the same pages. Once
buffers live in the heap, numpy's madvise(MADV_HUGEPAGE) on arrays >= 4 MB makes the kernel
fault in (and sometimes compact memory for) 2 MB pages there, with system time swinging from
run to run; so huge-page advice is off while analysing. What it saves: docs/performance.md,
"The analyzer's hand-written parts".

Scope: the settings hold only while the analysis runs. On leaving, the thresholds go back to
glibc's documented defaults (mallopt(3): 128 KiB each) and malloc_trim(0) hands the heap the
analysis kept back to the system, so a long-lived process (compare analyses cell after cell)
does not keep its peak. glibc's *dynamic* mmap threshold stays off once any threshold was
set (mallopt(3)); that is the one trace left. Only glibc has mallopt with these parameter
numbers; elsewhere this does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator

import numpy as np

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 256 << 20  # buffers below this come from the (reused) heap
TRIM_THRESHOLD = (1 << 31) - 1  # free heap top kept (mallopt takes a C int)
TOP_PAD = 64 << 20  # grow the heap in big steps: fewer brk calls
GLIBC_DEFAULT = 128 * 1024  # mallopt(3): the default of all three


def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (mallopt's parameter numbers are glibc's), else None."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return None
        libc = ctypes.CDLL(None)
    except (AttributeError, ValueError, OSError):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    return libc


def _set(libc: ctypes.CDLL, mmap: int, trim: int, pad: int) -> None:
    libc.mallopt(M_MMAP_THRESHOLD, mmap)
    libc.mallopt(M_TRIM_THRESHOLD, trim)
    libc.mallopt(M_TOP_PAD, pad)


@contextlib.contextmanager
def analysis_memory() -> Iterator[None]:
    """Tune malloc and switch numpy's huge-page advice off while the analysis runs; put both
    back (malloc: glibc's defaults, and the kept heap trimmed) when it ends."""
    libc = _glibc()
    if libc is not None:
        _set(libc, MMAP_THRESHOLD, TRIM_THRESHOLD, TOP_PAD)
    # Private numpy hook (the NUMPY_MADVISE_HUGEPAGE switch at run time); skip if absent.
    hook = getattr(getattr(np, "_core", None), "multiarray", None)
    setter = getattr(hook, "_set_madvise_hugepage", None)
    before = setter(False) if setter is not None else None
    try:
        yield
    finally:
        if setter is not None:
            setter(before)
        if libc is not None:
            _set(libc, GLIBC_DEFAULT, GLIBC_DEFAULT, GLIBC_DEFAULT)
            libc.malloc_trim(0)
