"""Memory settings for the analysis: reuse freed heap pages, no transparent huge pages.

Why: the analysis allocates and frees chunk-sized numpy arrays (~0.1-2 MB) many times per
chunk. With glibc's defaults, large buffers are mmapped and unmapped again and the top of
the heap is trimmed as soon as a little is free, so later chunks touch fresh pages again
(~4 us per minor fault on this VM). Raising the mmap and trim thresholds lets glibc reuse
the same pages. Once buffers live in the heap, numpy's madvise(MADV_HUGEPAGE) on arrays
>= 4 MB makes the kernel fault in (and sometimes compact memory for) 2 MB pages there,
with system time swinging between 0.1 and 0.4 s per run; so huge-page advice is off while
analysing. Measured in fresh processes (medians of 10 runs, noisy shared VM): 1 M bench
capture, system time 0.17 -> 0.14 s (faults stay ~45 k: the first touch of the peak); 10 M
synthetic capture (2 runs each), faults ~290 k -> ~125 k, system time 2.2 -> 0.7 s, peak
RSS ~720 MB either way.

The malloc thresholds are not restored: they cannot be read back, peak RSS is unchanged
(the heap keeps at most what the analysis needed at its peak), and the CLI process ends
after the analysis. Only glibc has mallopt with these parameter numbers; elsewhere that
part does nothing.
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

_tuned = False


def _tune_malloc() -> None:
    """Once per process; a no-op on non-glibc systems or if libc cannot be loaded."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, ValueError, OSError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    mallopt(M_TOP_PAD, TOP_PAD)


@contextlib.contextmanager
def analysis_memory() -> Iterator[None]:
    """Tune malloc (for good) and switch numpy's huge-page advice off (until exit)."""
    _tune_malloc()
    # Private numpy hook (the NUMPY_MADVISE_HUGEPAGE switch at run time); skip if absent.
    hook = getattr(getattr(np, "_core", None), "multiarray", None)
    setter = getattr(hook, "_set_madvise_hugepage", None)
    before = setter(False) if setter is not None else None
    try:
        yield
    finally:
        if setter is not None:
            setter(before)
