"""Files written so that a reader (or a killed process) never sees one half-written, and file digests.

Every atomic write of handdg goes through here: a temp file beside the target (`.NAME.XXXXXXXX.SUFFIX`,
created with the permissions a plain `open` would give), renamed into place once whole; a failure
removes the temp file and re-raises, so each caller keeps its own one-line error. A folder is staged
the same way (`staged_folder`).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence


def _temp_beside(path: Path) -> Path:
    """A new empty file `.NAME.XXXXXXXX.SUFFIX` beside `path` (mode 0o666 less the umask, as `open` gives)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{path.suffix}")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return tmp


def write_atomic_together(paths: Sequence[str | Path], write: Callable[[list[Path]], None]) -> list[Path]:
    """Call `write(temps)` (one temp file beside each of `paths`), then rename each into place only once
    all are whole: a failure leaves none of them; on failure the temp files are removed."""
    paths = [Path(p) for p in paths]
    temps: list[Path] = []
    try:
        for path in paths:
            temps.append(_temp_beside(path))
        write(temps)
        for tmp, path in zip(temps, paths):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
    return paths


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` on a temp file beside `path`, then rename it into place; on failure remove the temp file."""
    return write_atomic_together([path], lambda temps: write(temps[0]))[0]


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """`text` at `path`, atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding=encoding))


def write_json_atomic(path: str | Path, payload: Any, sort_keys: bool = False) -> Path:
    """`payload` as indented JSON at `path`, atomically."""
    return write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=sort_keys) + "\n")


STAGING = ".tmp-"
"""A folder being staged is `OUT.tmp-<pid>` beside OUT."""


def _remove_stale_staging(out: Path) -> None:
    """Delete `OUT.tmp-<pid>` folders left by processes that were killed (they no longer exist)."""
    for tmp in out.parent.glob(f"{out.name}{STAGING}*"):
        pid = tmp.name.rsplit("-", 1)[1]
        if not pid.isdigit() or not tmp.is_dir():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except PermissionError:
            pass  # alive, owned by someone else


@contextmanager
def staged_folder(out: str | Path) -> Iterator[Path]:
    """Yield a fresh empty sibling `OUT.tmp-<pid>` of `out`; when the block ends, replace `out` by it
    (removing what `out` held); on any failure remove it and re-raise. Staging folders of killed
    processes are removed on the way."""
    out = Path(out)
    tmp = out.parent / f"{out.name}{STAGING}{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(out)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
