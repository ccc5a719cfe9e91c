import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")

PROBE = textwrap.dedent("""
    import ctypes, sys
    from handdg.device import allocator

    class Info(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = Info
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    applied = allocator.keep_freed_memory() if sys.argv[1] == "keep" else False
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(8 * 1024 * 1024)
    mapped = libc.mallinfo2().hblkhd - before
    libc.free(block)
    print(applied, mapped)
""")


def _probe(mode: str, **env: str) -> tuple[bool, int]:
    import os

    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         env={**os.environ, **env}).stdout.split()
    return out[0] == "True", int(out[1])


def test_an_8_mib_block_comes_from_the_heap_once_freed_memory_is_kept():
    try:
        applied, mapped = _probe("keep")
    except subprocess.CalledProcessError as error:  # no mallinfo2 (glibc < 2.33) or not glibc
        pytest.skip(f"no glibc mallinfo2: {error.stderr.strip().splitlines()[-1]}")
    assert applied and mapped == 0
    assert _probe("system") == (False, 8 * 1024 * 1024 + 4096)


def test_the_users_own_glibc_setting_wins():
    assert _probe("keep", MALLOC_MMAP_THRESHOLD_="131072")[0] is False
