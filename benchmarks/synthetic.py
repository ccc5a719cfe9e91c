"""Synthetic inputs the benchmarks share: CLIP-like unit vectors and feature stores of any size.

Stores are written with handdg's own writer (StoreSpec + StoreWriter, chunk by chunk, done
flags last), exactly as `handdg featurize` fills them, only with generated features in place
of CLIP outputs: the I/O, sizes and index costs are those of a real store of that many rows.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DIM = 512
"""CLIP ViT-B/32's embedding width."""


def unit_vectors(kind: str, rows: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """`rows` float32 unit vectors: `clustered` around rows/64 centres (cosine ≈ 0.8 to their centre,
    as CLIP features of similar images) or `isotropic` (uniform on the sphere)."""
    from handdg.stores.index import normalised

    rng = np.random.default_rng(seed)
    if kind == "isotropic":
        return normalised(rng.standard_normal((rows, dim), dtype=np.float32))
    centres = normalised(rng.standard_normal((max(1, rows // 64), dim), dtype=np.float32))
    noise = rng.standard_normal((rows, dim), dtype=np.float32) * (0.75 / np.sqrt(dim))
    return normalised(centres[rng.integers(0, len(centres), rows)] + noise)


def clip_like_features(rows: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """Raw (un-normalised) float16 features with CLIP ViT-B/32's scale (norm ≈ 10)."""
    return (10.0 * unit_vectors("clustered", rows, dim, seed)).astype(np.float16)


def fill_store(path: Path, spec, tables: tuple[str, ...] = ("prompts", "images"), seed: int = 0) -> None:
    """Create the store `spec` describes at `path` and write synthetic features into every chunk of `tables`."""
    from handdg.stores.writer import StoreWriter

    with StoreWriter.open(path, spec) as writer:
        for table in (writer.prompts, writer.images):
            if table.name not in tables:
                continue
            values = clip_like_features(table.rows, spec.clip["embed_dim"], seed + (table.name == "prompts"))
            chunks, _ = writer.claim(table, writer.pending(table))
            for chunk in chunks:
                writer.write_chunk(table, chunk, values[table.rows_of(chunk)])


def synthetic_spec(path: Path, rows: int, dim: int = DIM, seed: int = 0, chunk_rows: int | None = None):
    """A StoreSpec for `rows` images of a made-up dataset (ids "%08d")."""
    from handdg import prompts
    from handdg.stores import schema
    from handdg.stores.writer import StoreSpec

    return StoreSpec(
        clip={"model": "synthetic", "weights": f"random:{seed}", "embed_dim": dim},
        dataset={"name": "synthetic", "root": str(path.parent), "split": "train", "count": rows,
                 "fingerprint": f"synthetic-{rows}-{seed}"},
        prompts={"count": prompts.COUNT, "vocabulary_sha256": prompts.vocabulary_sha256()},
        ids=[f"{i:08d}" for i in range(rows)],
        prompt_text=prompts.all_prompts(),
        image_chunk_rows=chunk_rows or schema.DEFAULT_IMAGE_CHUNK_ROWS,
    )


def write_store(path: Path, rows: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """A complete store of `rows` synthetic images at `path`; returns its image features."""
    fill_store(path, synthetic_spec(path, rows, dim, seed), seed=seed)
    return clip_like_features(rows, dim, seed)


def freihand_with_store(work: Path, unique: int, encoder, chunk_rows: int | None = None,
                        tables: tuple[str, ...] = ("prompts", "images")) -> tuple[Path, Path]:
    """A synthetic FreiHAND training set (`unique` × 4 images, `handdg.synth`) and a store of it whose
    provenance is `encoder`'s, with made-up features in `tables`; returns (dataset root, store path)."""
    from handdg.data import open_dataset
    from handdg.featurize.run import store_spec
    from handdg.synth import make_dataset

    root = make_dataset(work / "freihand", "freihand", unique, seed=0)
    dataset = open_dataset(root, "freihand", "train")
    store = work / "freihand.zarr"
    fill_store(store, store_spec(dataset, encoder, image_chunk_rows=chunk_rows or len(dataset)), tables)
    return root, store


def disk_bytes(path: Path) -> int:
    """Bytes of every file under `path` (apparent sizes)."""
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)
