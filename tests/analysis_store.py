"""An in-memory feature store with the FeatureStore read interface (FAISS search included), for analysis tests."""

from __future__ import annotations

import faiss
import numpy as np

from handdg import prompts
from handdg.errors import HanddgError


class ArrayStore:
    """Image and prompt features held in arrays; `search` goes through a FAISS inner-product index."""

    def __init__(self, features: np.ndarray, prompt_features: np.ndarray | None = None, ids=None,
                 weights: str = "random:0", name: str = "freihand", split: str = "train", root: str = "/nowhere"):
        self._features = np.asarray(features, dtype=np.float16)
        dim = self._features.shape[1]
        if prompt_features is None:
            prompt_features = np.random.default_rng(1).normal(size=(prompts.COUNT, dim))
        self._prompts = np.asarray(prompt_features, dtype=np.float16)
        self.ids = np.array(ids if ids is not None else [f"{i:08d}" for i in range(len(features))])
        self.prompt_text = list(prompts.all_prompts())
        self.attrs = {"dataset": {"name": name, "split": split, "root": root, "count": len(self.ids)}}
        self.clip_provenance = {"model": "handdg-tiny", "weights": weights, "embed_dim": dim}
        unit = self._features.astype(np.float32)
        unit /= np.linalg.norm(unit, axis=1, keepdims=True)
        self._index = faiss.IndexFlatIP(dim)
        self._index.add(unit)

    def row_of(self, ids):
        where = {s: i for i, s in enumerate(self.ids)}
        missing = [i for i in ids if i not in where]
        if missing:
            raise HanddgError(f"sample id {missing[0]} is not in the store")
        return np.array([where[i] for i in ids])

    def image_features(self, rows=None):
        return self._features if rows is None else self._features[np.asarray(rows)]

    def prompt_features(self):
        return self._prompts

    def search(self, queries, k):
        return self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)


def random_store(n: int = 40, dim: int = 16, seed: int = 0, **kwargs) -> ArrayStore:
    """A store of n random features."""
    rng = np.random.default_rng(seed)
    return ArrayStore(rng.normal(size=(n, dim)), rng.normal(size=(prompts.COUNT, dim)), **kwargs)
