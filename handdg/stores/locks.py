"""Per-chunk writer locks: POSIX byte-range locks on one file inside the store.

Byte k of `<store>/.writers.lock` stands for work unit k (a chunk of images or prompts, or the
index). A writer claims a unit with a non-blocking exclusive lock; the kernel drops every lock
of a process when it exits, even by `kill -9`, so a crash never leaves a stale lock behind.
Two featurize processes on one store therefore never write the same chunk: each skips the
units another holds.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = ".writers.lock"


class ChunkLocks:
    """The lock file of one store, opened once per process (closing it drops all its locks)."""

    def __init__(self, store_path: Path):
        self._fd = os.open(Path(store_path) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)

    def try_claim(self, unit: int) -> bool:
        """Take unit `unit` if no other process holds it."""
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, unit)
        except OSError:
            return False
        return True

    def claim(self, unit: int) -> None:
        """Take unit `unit`, waiting for another process to let it go."""
        fcntl.lockf(self._fd, fcntl.LOCK_EX, 1, unit)

    def release(self, unit: int) -> None:
        """Let unit `unit` go."""
        fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, unit)

    def close(self) -> None:
        """Drop every lock this process holds on the store."""
        os.close(self._fd)

    def __enter__(self) -> "ChunkLocks":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
