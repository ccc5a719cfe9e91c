"""Damage checks for a store's arrays: a chunk file that is missing or cannot be decoded is named, never read.

zarr reads a missing chunk file as its fill value (NaN features, empty ids) and a corrupt one
as a codec error; both would reach training or retrieval as silent garbage or a traceback.
Readers go through `read_array`, which names the first damaged chunk; the writer uses
`damaged_chunks` to redo exactly those chunks when featurize is re-run.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import zarr

from handdg.errors import HanddgError


class DamagedStore(HanddgError):
    """A chunk of a store's array is missing or unreadable on disk: `what` is damaged, `hint` says what to do."""

    def __init__(self, what: str, hint: str | None = None):
        super().__init__(what if hint is None else f"{what}; {hint}")  # one argument: as a DataLoader worker re-raises it
        self.what = what


def repair_hint(path: Path | str) -> str:
    """What a user does about a damaged store."""
    return (f"run `handdg store verify {path}` to list the damage, then re-run the `handdg featurize` "
            "command that made the store to repair it")


def chunk_file(store_path: Path, array: zarr.Array, chunk: int) -> Path:
    """The file holding chunk `chunk` (along the first axis) of `array`."""
    coords = (chunk,) + (0,) * (len(array.shape) - 1)
    key = array.metadata.chunk_key_encoding.encode_chunk_key(coords)
    return Path(store_path) / array.path / key


def chunk_rows(array: zarr.Array, chunk: int) -> slice:
    """The rows of chunk `chunk` of `array`."""
    return _rows(array, chunk)


def _rows(array: zarr.Array, chunk: int) -> slice:
    step = array.chunks[0]
    return slice(chunk * step, min(array.shape[0], (chunk + 1) * step))


def _readable(array: zarr.Array, chunk: int) -> bool:
    try:
        np.asarray(array[_rows(array, chunk)])
    except Exception:  # noqa: BLE001 - any decode failure means the chunk file is damaged
        return False
    return True


def damaged_chunks(store_path: Path, array: zarr.Array, expected: Iterable[int]) -> list[int]:
    """Chunks among `expected` (which must exist on disk) whose file is missing or cannot be decoded."""
    return [c for c in expected if not chunk_file(store_path, array, c).is_file() or not _readable(array, c)]


def all_chunks(array: zarr.Array) -> range:
    """Every chunk index along the first axis."""
    return range(array.cdata_shape[0] if array.shape[0] else 0)


def _describe(array: zarr.Array, chunk: int, store_path: Path) -> str:
    rows = _rows(array, chunk)
    state = "is missing" if not chunk_file(store_path, array, chunk).is_file() else "cannot be decoded"
    return f"chunk {chunk} (rows {rows.start}-{rows.stop - 1}) of array {array.path} {state}"


def read_array(store_path: Path, group: zarr.Group, name: str, expected: Iterable[int] | None = None,
               hint: str | None = None) -> np.ndarray:
    """The whole array `name`; DamagedStore naming the first chunk that is missing (of `expected`,
    default all) or cannot be decoded, and what to do (`hint`, default: verify then featurize)."""
    hint = hint or repair_hint(store_path)
    if name not in group:
        raise DamagedStore(f"feature store {store_path}: array {name} is missing", hint)
    array = group[name]
    wanted = all_chunks(array) if expected is None else list(expected)
    missing = [c for c in wanted if not chunk_file(store_path, array, c).is_file()]
    if missing:
        raise DamagedStore(f"feature store {store_path}: {_describe(array, missing[0], store_path)}", hint)
    try:
        return np.asarray(array[:])
    except Exception:  # noqa: BLE001 - find and name the chunk that fails to decode
        bad = next((c for c in all_chunks(array) if not _readable(array, c)), None)
        where = _describe(array, bad, store_path) if bad is not None else f"array {name} cannot be decoded"
        raise DamagedStore(f"feature store {store_path}: {where}", hint) from None
