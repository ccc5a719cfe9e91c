"""Creating, resuming and filling a feature store, chunk by chunk, safely under kill -9 and sharding.

A chunk's `done` flag is written only after its rows are on disk (zarr writes each chunk file
atomically: temp file + rename), so a store killed at any moment holds only whole chunks
marked done, and a re-run redoes exactly the chunks that are not. The store directory is
built under a temporary name and renamed into place, so a half-created store never exists.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import zarr

from handdg import __version__
from handdg.errors import HanddgError
from handdg.stores import schema
from handdg.stores.integrity import all_chunks, chunk_file, chunk_rows, damaged_chunks
from handdg.stores.locks import ChunkLocks

INDEX_UNIT = 0
COMPRESSOR = zarr.codecs.ZstdCodec(level=0, checksum=True)
"""zstd with its frame checksum, so a flipped byte in a chunk file is a decode error, not silent garbage."""


@dataclass(frozen=True)
class Table:
    """One chunked, resumable table of a store: its arrays and its chunking."""

    name: str
    features: str
    done: str
    rows: int
    chunk_rows: int
    first_unit: int

    @property
    def chunks(self) -> int:
        """Number of chunks."""
        return schema.chunk_count(self.rows, self.chunk_rows)

    def rows_of(self, chunk: int) -> slice:
        """The rows of one chunk."""
        return schema.chunk_slice(chunk, self.rows, self.chunk_rows)


def tables(attrs: dict) -> tuple[Table, Table]:
    """The (prompts, images) tables described by a store's attributes."""
    chunks = attrs["chunks"]
    prompts = Table("prompts", schema.PROMPT_FEATURES, schema.PROMPT_DONE, attrs["prompts"]["count"],
                    chunks["prompts"], INDEX_UNIT + 1)
    images = Table("images", schema.IMAGE_FEATURES, schema.IMAGE_DONE, attrs["dataset"]["count"],
                   chunks["images"], prompts.first_unit + prompts.chunks)
    return prompts, images


@dataclass(frozen=True)
class StoreSpec:
    """Everything needed to create a store, or to check that an existing one matches a run."""

    clip: dict
    dataset: dict
    prompts: dict
    ids: Sequence[str]
    prompt_text: Sequence[str]
    image_chunk_rows: int = schema.DEFAULT_IMAGE_CHUNK_ROWS
    prompt_chunk_rows: int = schema.DEFAULT_PROMPT_CHUNK_ROWS

    def attrs(self) -> dict:
        """Root attributes of a new store."""
        return {
            "schema_version": schema.SCHEMA_VERSION,
            "handdg_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "clip": self.clip,
            "dataset": self.dataset,
            "prompts": self.prompts,
            "chunks": {"images": self.image_chunk_rows, "prompts": self.prompt_chunk_rows},
        }


def _create_arrays(group: zarr.Group, spec: StoreSpec, attrs: dict) -> None:
    """Every array of an empty store, with ids and prompt text filled in."""
    prompts, images = tables(attrs)
    dim = spec.clip["embed_dim"]
    for table in (prompts, images):
        group.create_array(table.features, shape=(table.rows, dim), dtype="float16",
                           chunks=(table.chunk_rows, dim), fill_value=np.nan, compressors=COMPRESSOR)
        group.create_array(table.done, shape=(table.chunks,), dtype=bool, chunks=(1,), fill_value=False,
                           compressors=COMPRESSOR)
    group.create_array(schema.IMAGE_SKIPPED, shape=(images.rows,), dtype=bool,
                       chunks=(images.chunk_rows,), fill_value=False, compressors=COMPRESSOR)
    group.create_array(schema.IMAGE_IDS, shape=(images.rows,), dtype=str, chunks=(images.chunk_rows,),
                       compressors=COMPRESSOR)
    group.create_array(schema.PROMPT_TEXT, shape=(prompts.rows,), dtype=str, chunks=(prompts.rows,),
                       compressors=COMPRESSOR)
    group[schema.IMAGE_IDS][:] = np.asarray(spec.ids, dtype=str)
    group[schema.PROMPT_TEXT][:] = np.asarray(spec.prompt_text, dtype=str)


def _create_store(path: Path, spec: StoreSpec) -> None:
    """Build a new store under a temporary name and rename it into place (a racing creator wins)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    attrs = spec.attrs()
    group = zarr.open_group(tmp, mode="w", zarr_format=3)
    group.attrs.update(attrs)
    _create_arrays(group, spec, attrs)
    try:
        os.rename(tmp, path)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not path.exists():
            raise


def open_group(path: Path, mode: str) -> zarr.Group:
    """The zarr group of a handdg store (HanddgError if `path` is something else)."""
    if not (path / "zarr.json").is_file():
        what = "does not exist" if not path.exists() else "is not a zarr v3 group"
        raise HanddgError(f"feature store {path} {what} (run `handdg featurize` to make one)")
    try:
        group = zarr.open_group(path, mode=mode, zarr_format=3)
    except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise HanddgError(f"{path} cannot be opened as a zarr v3 group ({exc}); featurize into a new --store path") from None
    if not all(key in group.attrs for key in ("schema_version", "clip", "dataset", "prompts", "chunks")):
        raise HanddgError(f"{path} is a zarr group but not a handdg feature store (featurize into a new --store path)")
    return group


class StoreWriter:
    """Write access to one store for one process: claims chunks, writes them, marks them done."""

    def __init__(self, path: Path, group: zarr.Group):
        self.path = path
        self.group = group
        self.attrs = dict(group.attrs)
        self.prompts, self.images = tables(self.attrs)
        self.locks = ChunkLocks(path)
        self.repaired = 0

    @classmethod
    def open(cls, path: Path | str, spec: StoreSpec) -> "StoreWriter":
        """Open `path` for writing, creating it from `spec` if missing; refuse a store made otherwise."""
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            _create_store(path, spec)
        group = open_group(path, "r+")
        schema.check_identity(str(path), dict(group.attrs), spec.attrs())
        writer = cls(path, group)
        writer.repaired = writer.repair(spec)
        return writer

    def repair(self, spec: StoreSpec) -> int:
        """Rewrite damaged chunks of ids and prompt text from `spec`, and unmark damaged feature chunks
        so this run redoes exactly them; returns how many chunks were damaged."""
        count = 0
        for name, values in ((schema.IMAGE_IDS, spec.ids), (schema.PROMPT_TEXT, spec.prompt_text)):
            array = self.group[name]
            for chunk in damaged_chunks(self.path, array, all_chunks(array)):
                rows = chunk_rows(array, chunk)
                array[rows] = np.asarray(values[rows], dtype=str)
                count += 1
        for table in (self.prompts, self.images):
            for chunk in self._damaged_done(table):
                self.group[table.done][chunk] = False
                count += 1
        return count

    def _damaged_done(self, table: Table) -> list[int]:
        """Chunks of `table` marked done (or whose flag is unreadable) that do not hold sound features."""
        done_array = self.group[table.done]
        present = [c for c in all_chunks(done_array) if chunk_file(self.path, done_array, c).is_file()]
        bad = damaged_chunks(self.path, done_array, present)
        done = [c for c in present if c not in bad and bool(done_array[c])]
        return bad + [c for c in done if not self._chunk_sound(table, c)]

    def _chunk_sound(self, table: Table, chunk: int) -> bool:
        """A done chunk's features file exists (unless every row was skipped), decodes, and is finite where read."""
        features = self.group[table.features]
        skipped_array = self.group[schema.IMAGE_SKIPPED] if table is self.images else None
        rows = table.rows_of(chunk)
        try:
            skipped = np.zeros(rows.stop - rows.start, bool) if skipped_array is None else skipped_array[rows]
            values = np.asarray(features[rows], dtype=np.float32)
        except Exception:  # noqa: BLE001 - an undecodable chunk is damage to redo
            return False
        if not chunk_file(self.path, features, chunk).is_file() and not skipped.all():
            return False
        return bool(np.isfinite(values[~skipped]).all())

    def pending(self, table: Table) -> list[int]:
        """Chunks of `table` not yet marked done."""
        done = self.group[table.done][:]
        return [int(c) for c in np.flatnonzero(~done)]

    def claim(self, table: Table, chunks: Sequence[int]) -> tuple[list[int], list[int]]:
        """(claimed, held elsewhere): lock each chunk; re-check done after locking (it may have just finished)."""
        claimed, held = [], []
        for chunk in chunks:
            if not self.locks.try_claim(table.first_unit + chunk):
                held.append(chunk)
            elif bool(self.group[table.done][chunk]):
                self.locks.release(table.first_unit + chunk)
            else:
                claimed.append(chunk)
        return claimed, held

    def write_chunk(self, table: Table, chunk: int, features: np.ndarray, skipped: np.ndarray | None = None) -> None:
        """Write a whole chunk's rows (and skipped flags), then mark it done, then release its lock."""
        rows = table.rows_of(chunk)
        self.group[table.features][rows] = features.astype(np.float16)
        if skipped is not None:
            self.group[schema.IMAGE_SKIPPED][rows] = skipped
        self.group[table.done][chunk] = True
        self.locks.release(table.first_unit + chunk)

    def all_done(self) -> bool:
        """Every chunk of prompts and images is marked done."""
        return all(bool(self.group[t.done][:].all()) for t in (self.prompts, self.images))

    def close(self) -> None:
        """Release every lock this writer holds."""
        self.locks.close()

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
