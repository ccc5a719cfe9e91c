"""Read-only view of a feature store: what training, retrieval and figures read.

Features come back exactly as CLIP gave them (float16, not normalised); consumers normalise.
Image features are read into memory once (FreiHAND: 133 MB) because random row access on
zarr chunks is far slower than on an in-memory array (docs/performance.md, claim 6).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np

from handdg.errors import HanddgError
from handdg.stores import index as faiss_index
from handdg.stores import schema
from handdg.stores.integrity import DamagedStore, read_array, repair_hint
from handdg.stores.writer import Table, open_group, tables

if TYPE_CHECKING:
    from handdg.data.base import HandDataset


def _fixed_width(strings: np.ndarray) -> np.ndarray:
    """numpy's variable-width StringDType (what zarr returns) as a plain '<U' array."""
    return np.array(strings.tolist(), dtype=str)


class FeatureStore:
    """A finished or partial feature store opened for reading."""

    def __init__(self, path: Path):
        self.path = path
        self.group = open_group(path, "r")
        self.attrs: dict = dict(self.group.attrs)
        self.prompt_table, self.image_table = tables(self.attrs)

    @classmethod
    def open(cls, path: Path | str) -> "FeatureStore":
        """Open the store at `path` (HanddgError if it is not one)."""
        return cls(Path(path))

    @property
    def clip_provenance(self) -> dict:
        """The CLIP model and weights the features were made with."""
        return dict(self.attrs["clip"])

    @property
    def embed_dim(self) -> int:
        """Feature dimension D."""
        return int(self.attrs["clip"]["embed_dim"])

    @cached_property
    def ids(self) -> np.ndarray:
        """The dataset's sample ids in row order."""
        return _fixed_width(self._read(schema.IMAGE_IDS))

    @cached_property
    def _row_lookup(self) -> dict[str, int]:
        return {sample_id: row for row, sample_id in enumerate(self.ids.tolist())}

    def row_of(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Rows of the given sample ids (HanddgError naming the first id the store lacks)."""
        lookup = self._row_lookup
        rows = np.empty(len(ids), dtype=np.int64)
        for k, sample_id in enumerate(ids):
            row = lookup.get(str(sample_id))
            if row is None:
                raise HanddgError(f"sample id {sample_id!r} is not in feature store {self.path} "
                                  f"(made from {self.attrs['dataset']['name']}/{self.attrs['dataset']['split']})")
            rows[k] = row
        return rows

    def _read(self, name: str, expected=None) -> np.ndarray:
        """An array read whole; DamagedStore if a chunk of `expected` (default all) is missing or any is corrupt."""
        return read_array(self.path, self.group, name, expected)

    def _written_chunks(self, table: Table) -> list[int]:
        """Chunks of `table` marked done whose features file must exist (an all-skipped chunk may have none)."""
        done = np.flatnonzero(self.done_chunks(table.name))
        if table.name == "prompts":
            return done.tolist()
        skipped = self.skipped
        return [int(c) for c in done if not skipped[table.rows_of(int(c))].all()]

    def _checked_features(self, table: Table) -> np.ndarray:
        """The features of `table`; DamagedStore if a written, unskipped row is missing or non-finite."""
        features = self._read(table.features, self._written_chunks(table))
        written = np.zeros(table.rows, dtype=bool)
        for chunk in np.flatnonzero(self.done_chunks(table.name)):
            written[table.rows_of(int(chunk))] = True
        if table.name == "images":
            written &= ~self.skipped
        bad = np.flatnonzero(written & ~np.isfinite(features).all(axis=1))
        if bad.size:
            raise DamagedStore(f"feature store {self.path}: {bad.size} written rows of array {table.features} hold "
                               f"no finite features (first row {bad[0]})", repair_hint(self.path))
        return features

    @cached_property
    def _image_features(self) -> np.ndarray:
        features = self._checked_features(self.image_table)
        features.flags.writeable = False
        return features

    def image_features(self, rows: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """(N, D) float16 raw CLIP image features, all rows (read-only, shared) or a copy of the given ones.

        Rows of images skipped with --skip-bad are NaN.
        """
        if rows is None:
            return self._image_features
        return self._image_features[np.asarray(rows, dtype=np.int64)]

    @cached_property
    def skipped(self) -> np.ndarray:
        """(N,) bool: rows whose image could not be read when featurizing with --skip-bad."""
        return np.asarray(self._read(schema.IMAGE_SKIPPED, ()), dtype=bool)

    @property
    def skipped_ids(self) -> list[str]:
        """Sample ids of the skipped rows."""
        return self.ids[self.skipped].tolist()

    @cached_property
    def _prompt_features(self) -> np.ndarray:
        features = self._checked_features(self.prompt_table)
        features.flags.writeable = False
        return features

    def prompt_features(self) -> np.ndarray:
        """(3920, D) float16 raw CLIP text features of the prompts, in prompt id order (read-only, shared)."""
        return self._prompt_features

    def check_readable(self, index: bool = True) -> "FeatureStore":
        """Read every array and the index once (they stay cached): DamagedStore naming the first damaged chunk.

        Readers call it on opening, so no answer is ever computed from a partly missing store.
        """
        for table in ("prompts", "images"):
            self.done_chunks(table)
        _ = self.ids, self.prompt_text, self._image_features, self._prompt_features
        if index:
            _ = self._index
        return self

    @cached_property
    def prompt_text(self) -> list[str]:
        """The prompt strings, in prompt id order."""
        return _fixed_width(self._read(schema.PROMPT_TEXT)).tolist()

    def done_chunks(self, table: str) -> np.ndarray:
        """(n_chunks,) bool done flags of "images" or "prompts"."""
        chosen: Table = self.image_table if table == "images" else self.prompt_table
        return np.asarray(self._read(chosen.done, ()), dtype=bool)

    @property
    def complete(self) -> bool:
        """Every image and prompt chunk is written."""
        return bool(self.done_chunks("images").all() and self.done_chunks("prompts").all())

    @cached_property
    def _index(self) -> tuple[faiss.Index, dict] | None:
        return faiss_index.load(self.group, self.path)

    @property
    def index_attrs(self) -> dict | None:
        """Provenance of the saved FAISS index, or None when the store has none."""
        return None if self._index is None else self._index[1]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores (Q,k), rows (Q,k)) of the k nearest images by cosine, for L2-normalised (Q,D) queries."""
        if self._index is None:
            raise HanddgError(f"feature store {self.path} has no index (run `handdg index build {self.path}`)")
        return faiss_index.search(self._index[0], queries, k)

    def check_dataset(self, dataset: "HandDataset") -> None:
        """HanddgError unless this store was made from `dataset` (same name, split, ids) and holds all its images.

        A store with skipped images (--skip-bad) does not cover its dataset: training needs every sample.
        """
        made = self.attrs["dataset"]
        name, split = getattr(dataset, "name", ""), getattr(dataset, "split", "")
        if (made["name"], made["split"]) != (name, split) or made["fingerprint"] != dataset.fingerprint():
            raise HanddgError(
                f"feature store {self.path} was made from {made['name']}/{made['split']} ({made['count']} samples), "
                f"not from {name}/{split} at {getattr(dataset, 'root', '?')} ({len(dataset)} samples); "
                "featurize this dataset into its own store"
            )
        if not self.complete:
            done = self.done_chunks("images")
            raise HanddgError(
                f"feature store {self.path} is incomplete ({int(done.sum())} of {done.size} image chunks written); "
                "re-run the same `handdg featurize` command to finish it"
            )
        if self.skipped.any():
            raise HanddgError(
                f"feature store {self.path} skipped {int(self.skipped.sum())} unreadable images "
                f"(first: {self.skipped_ids[0]}); repair them and featurize into a new store"
            )
