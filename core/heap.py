"""Large arrays on glibc's heap for a short-lived command.

glibc gives each allocation above its mmap threshold (128 KiB, rising to at most 32 MiB as such
blocks are freed) a fresh mapping and unmaps it when freed; the kernel zeroes a fresh mapping page
by page at first touch. The smoother allocates and frees arrays of tens of MB in turn, so half of a
``posecloud smooth``'s page faults were such zeroing (85,000 -> 42,000 on 5 x 17 x 20,000; the
whole command 1.70 -> 1.45 s, medians of 7 runs on the 2-core machine). Served from the heap, and
the heap kept when they are freed, the pages are reused instead. The memory stays with the process
until it exits: for commands, not for the long-lived API or workers.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1  # mallopt's parameters (glibc's malloc.h)
_M_MMAP_THRESHOLD = -3
_HEAP_UP_TO = 1 << 30  # blocks up to 1 GiB from the heap; freed memory kept up to as much


def keep_large_arrays_on_the_heap() -> bool:
    """Ask glibc's malloc to serve large blocks from the heap and keep freed memory; False where the
    C library is not glibc (nothing changes)."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):  # no C library found, or no mallopt: not glibc
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _HEAP_UP_TO)) and bool(mallopt(_M_TRIM_THRESHOLD, _HEAP_UP_TO))
