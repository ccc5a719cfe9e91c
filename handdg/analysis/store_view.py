"""What analysis needs from a feature store, as a Protocol, plus the few reads it shares.

`handdg.stores.FeatureStore` satisfies it; so can any in-memory object a notebook builds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np

from handdg.errors import HanddgError

if TYPE_CHECKING:
    from handdg.data.base import HandDataset


class StoreView(Protocol):
    """The read-only part of `handdg.stores.FeatureStore` that analysis uses."""

    attrs: dict
    ids: np.ndarray
    prompt_text: list[str]

    @property
    def clip_provenance(self) -> dict: ...

    def row_of(self, ids: Sequence[str]) -> np.ndarray: ...

    def image_features(self, rows: Any = None) -> np.ndarray: ...

    def prompt_features(self) -> np.ndarray: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


def open_store(path: str | Path) -> StoreView:
    """Open a finished feature store for analysis (HanddgError if it is incomplete)."""
    from handdg.stores import FeatureStore

    store = FeatureStore.open(path).check_readable()
    if not store.complete:
        raise HanddgError(f"feature store {path} is incomplete; re-run the `handdg featurize` command that made it to finish it")
    return store


def usable_rows(store: StoreView) -> np.ndarray:
    """Rows that hold features (all but images skipped as unreadable by `featurize --skip-bad`)."""
    skipped = getattr(store, "skipped", None)
    if skipped is None:
        return np.arange(len(store.ids))
    return np.flatnonzero(~np.asarray(skipped, dtype=bool))


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows of `x` (or the vector `x`) scaled to unit L2 norm, as float32; zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1)


def unit_image_features(store: StoreView, rows: np.ndarray | None = None) -> np.ndarray:
    """The store's image features (all rows or `rows`), L2-normalised float32."""
    return l2_normalise(store.image_features(rows))


def same_clip(stores: Sequence[StoreView]) -> None:
    """Refuse to compare features of stores made with different CLIP models or weights."""
    first = stores[0].clip_provenance
    for store in stores[1:]:
        other = store.clip_provenance
        for key in ("model", "weights"):
            if other.get(key) != first.get(key):
                raise HanddgError(
                    f"stores disagree on CLIP {key}: {first.get(key)} vs {other.get(key)}; "
                    "featurize every dataset with the same --clip-model/--clip-weights"
                )


def store_dataset(store: StoreView, root: str | None = None) -> HandDataset:
    """Open the dataset a store was made from (its recorded root, or `root` if it moved).

    For STB, the camera is the one whose sample ids the store holds. Refuses a dataset that is
    not the one the store covers.
    """
    from handdg.data import open_dataset
    from handdg.data.stb import CAMERAS

    recorded = store.attrs.get("dataset", {})
    where = Path(root) if root is not None else Path(recorded.get("root", ""))
    if not where.is_dir():
        raise HanddgError(f"dataset folder {where} (recorded in the store) does not exist; pass --root DIR where it lives now")
    name, split = recorded.get("name", "folder"), recorded.get("split", "train")
    for camera in CAMERAS if name == "stb" else ("sk",):
        dataset = open_dataset(where, name, split=split, camera=camera)
        if dataset.fingerprint() == recorded.get("fingerprint"):
            break
    check = getattr(store, "check_dataset", None)
    if check is not None:
        check(dataset)
    return dataset


def images_by_id(dataset: HandDataset, ids: Sequence[str]) -> list[np.ndarray]:
    """Decode the images of the samples with these ids (in the given order)."""
    index = {sample_id: i for i, sample_id in enumerate(dataset.ids)}
    missing = [i for i in ids if i not in index]
    if missing:
        raise HanddgError(f"sample {missing[0]} is in the store but not in the dataset at {dataset.root}; pass the right --root")
    return [dataset.load_image(index[i]) for i in ids]
