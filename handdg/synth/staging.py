"""Writing a dataset folder atomically: build it in `OUT.tmp-<pid>`, rename it to OUT when complete.

A killed run leaves only a `.tmp-<pid>` folder (removed by the next run once that process is
gone), never a folder that looks like a finished dataset.
"""

from __future__ import annotations

import errno
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from handdg.errors import HanddgError


def _remove_stale_staging(out: Path) -> None:
    """Delete `OUT.tmp-<pid>` folders left by runs that were killed (their process no longer exists)."""
    for tmp in out.parent.glob(f"{out.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[1]
        if not pid.isdigit() or not tmp.is_dir():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except PermissionError:
            pass  # alive, owned by someone else


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
    tmp = out.parent / f"{out.name}.tmp-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(out)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno in _DISK_ERRORS:
            raise HanddgError(f"cannot write {out}: {exc.strerror}; free space or choose a writable folder") from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
