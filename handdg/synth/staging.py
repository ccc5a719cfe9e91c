"""Writing a dataset folder atomically: build it in `OUT.tmp-<pid>`, rename it to OUT when complete
(handdg.files.staged_folder).

A killed run leaves only a `.tmp-<pid>` folder (removed by the next run once that process is
gone), never a folder that looks like a finished dataset.
"""

from __future__ import annotations

import errno
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from handdg import files
from handdg.errors import HanddgError

_DISK_ERRORS = {errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.EDQUOT}


@contextmanager
def staged_folder(out: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a fresh temporary sibling of `out`; on success replace `out` by it, on failure remove it.

    Disk problems (full, read-only, no permission) become a HanddgError naming the folder.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise HanddgError(f"{out} exists and is not a folder; choose another output folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise HanddgError(f"{out} is not empty; pass --overwrite (overwrite=True) to replace it, or choose an empty folder")
    try:
        with files.staged_folder(out) as tmp:
            yield tmp
    except OSError as exc:
        if exc.errno in _DISK_ERRORS:
            raise HanddgError(f"cannot write {out}: {exc.strerror}; free space or choose a writable folder") from None
        raise
