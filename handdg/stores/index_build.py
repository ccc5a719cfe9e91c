"""`handdg index build`: (re)build a complete store's FAISS index and save it inside the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from handdg.errors import HanddgError
from handdg.options import check_int
from handdg.stores import index as faiss_index
from handdg.stores.feature_store import FeatureStore
from handdg.stores.integrity import DamagedStore
from handdg.stores.locks import ChunkLocks
from handdg.stores.writer import INDEX_UNIT, open_group


def index_is_current(store: FeatureStore) -> bool:
    """The saved index was built from exactly the store's current features."""
    try:
        attrs = store.index_attrs
    except DamagedStore:
        return False
    digest = faiss_index.features_digest(store.image_features(), store.skipped)
    return attrs is not None and attrs["features_sha256"] == digest


def build_store_index(path: Path | str, kind: str = "flat", nlist: int | None = None, nprobe: int = 16,
                      hnsw_m: int = 32, force: bool = False) -> dict:
    """Build the index of a complete store (skipped if current, unless `force`); returns its attributes.

    Runs under the store's index lock, so the last shards finishing together build it once.
    """
    path = Path(path)
    check_int("nprobe", nprobe, 1)
    check_int("hnsw_m", hnsw_m, 2)
    if nlist is not None:
        check_int("nlist", nlist, 1)
    with ChunkLocks(path) as locks:
        locks.claim(INDEX_UNIT)
        store = FeatureStore.open(path)
        if not store.complete:
            raise HanddgError(f"feature store {path} is incomplete; finish `handdg featurize` before building its index")
        store.check_readable(index=False)
        if not force and index_is_current(store) and store.index_attrs["kind"] == kind:
            return store.index_attrs
        features, skipped = store.image_features(), store.skipped
        rows = np.flatnonzero(~skipped)
        if rows.size == 0:
            raise HanddgError(f"feature store {path} has no readable image to index (every image was skipped)")
        vectors = faiss_index.normalised(features[rows])
        index, params = faiss_index.build(vectors, rows, kind, nlist, nprobe, hnsw_m)
        recall = None if kind == "flat" else faiss_index.measure_recall(index, vectors, rows)
        attrs = faiss_index.provenance(kind, params, int(rows.size), int(vectors.shape[1]),
                                       faiss_index.features_digest(features, skipped), store.clip_provenance, recall)
        faiss_index.save(open_group(path, "r+"), index, attrs)
        return attrs
