"""Keep the engine's block-sized temporaries in the heap (glibc's malloc only).

glibc hands allocations above its mmap threshold (128 KiB at start, raised only as large blocks
are freed) straight to the kernel and unmaps them on free, so each processing block's
megabyte-sized numpy temporaries arrive as fresh pages the kernel must zero on first touch. On a
5-minute stereo WAV through ``clean_file`` that was 466k page faults and 1.1 s of system time for
3.3 s of user time. Serving those sizes from the heap, and keeping up to 64 MiB of it free between
blocks, brings it to 18k faults and 0.14 s with the same peak memory (105 MB); the outputs do not
change. Settings the user made through ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_``
are left alone, and other C libraries (macOS, musl) are not touched.
"""

from __future__ import annotations

import ctypes
import os
from functools import lru_cache

# parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc's own ceiling for the threshold it adjusts by itself (64-bit)
MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = 64 << 20


@lru_cache(maxsize=1)
def keep_block_memory() -> bool:
    """Raise malloc's mmap and trim thresholds, once per process.

    Returns whether they were set: False where the C library is not glibc, or where the user's
    environment already chose them.
    """
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - glibc's own symbol: musl's mallopt does nothing
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
