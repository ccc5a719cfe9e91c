"""The FAISS index of a store: built over L2-normalised image features, saved inside the store.

Default is exact inner product (IndexFlatIP: cosine similarity on normalised vectors).
`ivf` and `hnsw` are approximate options for millions of rows; their recall@k against the
exact index is measured at build time and saved with the index, since on isotropic data
approximate indexes can be poor. Row numbers of the store are the FAISS ids, so skipped
images (NaN rows) are simply absent.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np
import zarr

from handdg.errors import HanddgError
from handdg.stores import schema
from handdg.stores.integrity import DamagedStore, read_array

KINDS = schema.INDEX_KINDS
RECALL_K = 10
RECALL_QUERIES = 1000

# FAISS uses BLAS for flat search only above this many queries (default 128000 in 1.15); from 20 queries on
# its BLAS path gives identical results (how the two compare in time: docs/performance.md, claim 5).
faiss.cvar.distance_compute_blas_threshold = 20
SMALL_BATCH = 64
"""Below this many queries an exact CPU index is searched by numpy: FAISS's non-BLAS path scores
each query on one thread, and its BLAS path (tiled, with a heap per query) only overtakes one
numpy product over all rows at about this many queries (docs/performance.md, benchmarks/bench_retrieval.py)."""


def normalised(features: np.ndarray) -> np.ndarray:
    """float32 copy of `features` with unit-length rows."""
    out = np.asarray(features, dtype=np.float32).copy()
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, np.finfo(np.float32).tiny)


def features_digest(features: np.ndarray, skipped: np.ndarray) -> str:
    """sha256 of the image features and skipped flags the index was built from."""
    digest = hashlib.sha256(np.ascontiguousarray(features, dtype=np.float16).tobytes())
    digest.update(np.ascontiguousarray(skipped, dtype=bool).tobytes())
    return digest.hexdigest()


def gpu_available() -> bool:
    """faiss-gpu is installed and sees a GPU."""
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


GPU_KINDS = ("flat", "ivf")


def _on_gpu(index: faiss.Index, kind: str) -> faiss.Index:
    """The index moved to every GPU when faiss-gpu has one and implements `kind` (not HNSW), else unchanged."""
    return faiss.index_cpu_to_all_gpus(index) if kind in GPU_KINDS and gpu_available() else index


def _base_index(kind: str, dim: int, count: int, nlist: int | None, hnsw_m: int) -> tuple[faiss.Index, dict]:
    """An empty inner-product index of `kind` and the parameters it was made with."""
    if kind == "flat":
        return faiss.IndexFlatIP(dim), {}
    if kind == "hnsw":
        return faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT), {"hnsw_m": hnsw_m}
    if kind == "ivf":
        nlist = nlist or max(1, min(int(4 * math.sqrt(count)), count // 39))
        if nlist > count:
            raise HanddgError(f"--nlist {nlist} is more than the {count} indexed rows (use a smaller --nlist)")
        return faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT), {"nlist": nlist}
    raise HanddgError(f"unknown index kind {kind!r} (use one of {', '.join(KINDS)})")


def build(vectors: np.ndarray, rows: np.ndarray, kind: str = "flat", nlist: int | None = None,
          nprobe: int = 16, hnsw_m: int = 32) -> tuple[faiss.Index, dict]:
    """Index unit vectors `vectors` under ids `rows`; returns the (CPU) index and its parameters."""
    base, params = _base_index(kind, vectors.shape[1], len(vectors), nlist, hnsw_m)
    index = faiss.IndexIDMap2(base)
    if kind == "ivf":
        trainer = _on_gpu(base, kind)
        trainer.train(vectors)
        if trainer is not base:
            index = faiss.IndexIDMap2(faiss.index_gpu_to_cpu(trainer))
        params["nprobe"] = _set_nprobe(index, nprobe)
    index.add_with_ids(vectors, rows.astype(np.int64))
    return index, params


def _set_nprobe(index: faiss.Index, nprobe: int) -> int:
    """Set how many IVF lists a search visits (at most all of them)."""
    ivf = faiss.extract_index_ivf(index)
    ivf.nprobe = min(nprobe, ivf.nlist)
    return int(ivf.nprobe)


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores (Q,k) float32, rows (Q,k) int64) of the k best rows per query; k is capped at the index size."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if queries.ndim != 2 or queries.shape[1] != index.d:
        raise HanddgError(f"queries must be (Q, {index.d}) float32, got shape {queries.shape}")
    if k < 1:
        raise HanddgError(f"k must be at least 1, got {k}")
    k = min(k, index.ntotal)
    flat = flat_rows(index) if len(queries) < SMALL_BATCH else None
    return index.search(queries, k) if flat is None else top_k(*flat, queries, k)


def flat_rows(index: faiss.Index) -> tuple[np.ndarray, np.ndarray] | None:
    """(vectors (N, d), ids (N,)) of an exact CPU inner-product index, viewed in place (no copy);
    None for any other index. The views live only as long as `index`."""
    if not isinstance(index, faiss.IndexIDMap2) or index.ntotal == 0:
        return None
    base = faiss.downcast_index(index.index)
    if not isinstance(base, faiss.IndexFlatIP):
        return None
    vectors = faiss.rev_swig_ptr(base.get_xb(), base.ntotal * base.d).reshape(base.ntotal, base.d)
    return vectors, faiss.rev_swig_ptr(index.id_map.data(), index.ntotal)


def top_k(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product with BLAS: (scores (Q,k) float32, ids (Q,k) int64), best first."""
    scores = queries @ vectors.T
    cut = scores.shape[1] - k
    best = np.argpartition(scores, cut, axis=1)[:, cut:] if cut > 0 else np.broadcast_to(np.arange(k), scores.shape)
    best_scores = np.take_along_axis(scores, best, axis=1)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    return np.take_along_axis(best_scores, order, axis=1), ids[np.take_along_axis(best, order, axis=1)].astype(np.int64)


def measure_recall(index: faiss.Index, vectors: np.ndarray, rows: np.ndarray, k: int = RECALL_K,
                   queries: int = RECALL_QUERIES, seed: int = 0) -> float:
    """Recall@k of `index` against exact search, for up to `queries` rows of `vectors` used as queries."""
    pick = np.random.default_rng(seed).choice(len(vectors), size=min(queries, len(vectors)), replace=False)
    exact, _ = build(vectors, rows)
    _, truth = search(exact, vectors[pick], k)
    _, found = search(index, vectors[pick], k)
    hits = sum(len(np.intersect1d(t, f)) for t, f in zip(truth, found))
    return float(hits / truth.size)


def save(group: zarr.Group, index: faiss.Index, attrs: dict) -> None:
    """Replace the store's index by `index` with provenance `attrs` (bytes first, attrs last)."""
    data = faiss.serialize_index(index)
    if schema.INDEX_GROUP in group:
        del group[schema.INDEX_GROUP]
    sub = group.create_group(schema.INDEX_GROUP)
    arr = sub.create_array("faiss", shape=data.shape, dtype="uint8", chunks=(min(len(data), 64 << 20),))
    arr[:] = data
    sub.attrs.update({**attrs, "bytes_sha256": hashlib.sha256(data.tobytes()).hexdigest()})


def _index_bytes(group: zarr.Group, store_path: Path, attrs: dict) -> np.ndarray:
    """The serialised index; DamagedStore if a chunk file is missing, corrupt, or the bytes changed."""
    data = np.asarray(read_array(store_path, group, schema.INDEX_BYTES, hint=_rebuild_hint(store_path)), dtype=np.uint8)
    expected = attrs.get("bytes_sha256")
    if expected is not None and hashlib.sha256(data.tobytes()).hexdigest() != expected:
        raise DamagedStore(f"feature store {store_path}: array {schema.INDEX_BYTES} does not hold the index that was "
                           "saved (checksum differs)", _rebuild_hint(store_path))
    return data


def _rebuild_hint(store_path: Path) -> str:
    return f"rebuild the index with `handdg index build --force {store_path}`"


def load(group: zarr.Group, store_path: Path | str = "") -> tuple[faiss.Index, dict] | None:
    """The store's index and its attributes, or None when it has none (or an unfinished one).

    DamagedStore (one line naming `handdg index build --force`) when its bytes are damaged.
    """
    if schema.INDEX_GROUP not in group:
        return None
    sub = group[schema.INDEX_GROUP]
    attrs = dict(sub.attrs)
    if "features_sha256" not in attrs:
        return None
    store_path = Path(store_path)
    data = _index_bytes(group, store_path, attrs)
    try:
        index = faiss.deserialize_index(data)
    except RuntimeError as exc:  # FAISS cannot parse the bytes
        raise DamagedStore(f"feature store {store_path}: its FAISS index cannot be read "
                           f"({str(exc).strip().splitlines()[0]})", _rebuild_hint(store_path)) from None
    if "nprobe" in attrs.get("params", {}):
        _set_nprobe(index, attrs["params"]["nprobe"])
    return _on_gpu(index, attrs["kind"]), attrs


def provenance(kind: str, params: dict, count: int, dim: int, digest: str, clip: dict,
               recall: float | None) -> dict:
    """The attributes saved with an index."""
    return {
        "kind": kind,
        "metric": "inner_product",
        "normalised": True,
        "params": params,
        "count": count,
        "dim": dim,
        "features_sha256": digest,
        "clip": clip,
        "recall_at_10": recall,
        "faiss_version": faiss.__version__,
        "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
