"""Keep freed tensor memory in the process (glibc malloc), so a CPU training step stops paying page faults.

glibc serves every allocation above its mmap threshold (128 KiB at start, raised adaptively) from fresh
mmap'd pages and returns them on free, so each step's activations (the tiny preset's 32×8×64×64 maps are
4 MiB each) are faulted in page by page again, which a CPU step pays for (docs/performance.md). Raising the
mmap threshold to glibc's maximum (32 MiB on 64-bit) and the trim threshold lets freed blocks be reused
instead, as jemalloc or tcmalloc would. Nothing changes where malloc
is not glibc's, or where the user set glibc's own MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
"""glibc's largest permitted mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)."""
TRIM_THRESHOLD = 1024 * 1024 * 1024
"""Freed memory at the heap's top that stays mapped (1 GiB) instead of being returned to the kernel."""
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds once per process; True when they are (now or before) set."""
    global _applied
    if _applied is None:
        _applied = _set_thresholds()
    return _applied


def _set_thresholds() -> bool:
    if not sys.platform.startswith("linux") or any(name in os.environ for name in USER_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
