"""Stage one end to end: every image and prompt of a dataset through frozen CLIP into a feature store.

`featurize` opens the dataset and CLIP and calls `featurize_dataset`, which resumes the store,
claims this process's chunks (shard i of n, minus chunks another process holds), encodes
prompts then images, writes each chunk as soon as it is whole, and builds the index when
the store is complete.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from handdg import prompts as prompt_table
from handdg.data.base import HandDataset
from handdg.errors import HanddgError
from handdg.options import check_int
from handdg.featurize.clip import ClipEncoder, load_clip
from handdg.featurize.images import chunk_batches, image_batches
from handdg.featurize.sharding import owns, resolve_shard
from handdg.loading import default_workers
from handdg.stores import schema
from handdg.stores.feature_store import FeatureStore
from handdg.stores.index_build import build_store_index
from handdg.stores.writer import StoreSpec, StoreWriter


@dataclass
class FeaturizeReport:
    """What one featurize process did, and the state of the store after it."""

    store: Path
    images_written: int = 0
    prompts_written: int = 0
    chunks_held_elsewhere: int = 0
    chunks_repaired: int = 0
    seconds: float = 0.0
    image_seconds: float = 0.0
    complete: bool = False
    skipped_ids: list[str] = field(default_factory=list)
    index: dict | None = None

    @property
    def images_per_second(self) -> float:
        """Images per second of the image phase (decode, encode, write), prompts and index excluded."""
        return self.images_written / self.image_seconds if self.image_seconds > 0 else 0.0


def store_spec(dataset: HandDataset, encoder: ClipEncoder, image_chunk_rows: int) -> StoreSpec:
    """The provenance and contents a store of `dataset` encoded by `encoder` must have."""
    return StoreSpec(
        clip=encoder.provenance,
        dataset={
            "name": dataset.name,
            "root": str(Path(dataset.root).resolve()),
            "split": dataset.split,
            "count": len(dataset),
            "fingerprint": dataset.fingerprint(),
        },
        prompts={"count": prompt_table.COUNT, "vocabulary_sha256": prompt_table.vocabulary_sha256()},
        ids=list(dataset.ids),
        prompt_text=prompt_table.all_prompts(),
        image_chunk_rows=image_chunk_rows,
    )


def _write_prompts(writer: StoreWriter, chunks: list[int], features_of: Callable[[slice], np.ndarray],
                   progress: bool) -> int:
    """Write the given prompt chunks with the features `features_of(rows)` gives; returns prompts written."""
    written = 0
    for chunk in tqdm(chunks, desc="prompts", unit="chunk", file=sys.stderr, disable=not progress or not chunks):
        rows = writer.prompts.rows_of(chunk)
        writer.write_chunk(writer.prompts, chunk, features_of(rows))
        written += rows.stop - rows.start
    return written


def _encoded_prompts(encoder: ClipEncoder) -> Callable[[slice], np.ndarray]:
    """Prompt features by encoding the prompt texts."""
    texts = prompt_table.all_prompts()
    return lambda rows: encoder.encode_text(texts[rows]).numpy()


def _stored_prompts(source_path: Path | str, encoder: ClipEncoder) -> Callable[[slice], np.ndarray]:
    """Prompt features copied from another complete store made with the same CLIP (no encoding).

    Prompt features depend only on the CLIP and the vocabulary, so the stores of several datasets
    can share one encoding (3,920 prompts cost ~72 s with ViT-B-32 on a 2-core CPU).
    """
    source = FeatureStore.open(source_path).check_readable(index=False)
    mine, theirs = encoder.provenance, source.clip_provenance
    if any(theirs.get(key) != mine[key] for key in ("model", "weights", "quick_gelu")):
        raise HanddgError(f"--prompts-from {source_path} was made with CLIP {theirs.get('model')} / {theirs.get('weights')}, "
                          f"not {mine['model']} / {mine['weights']}; leave --prompts-from out to encode the prompts")
    same_vocabulary = source.attrs.get("prompts", {}).get("vocabulary_sha256") == prompt_table.vocabulary_sha256()
    if not same_vocabulary or not source.done_chunks("prompts").all():
        raise HanddgError(f"--prompts-from {source_path} does not hold this handdg's complete prompt features; "
                          "leave --prompts-from out to encode the prompts")
    features = source.prompt_features()
    return lambda rows: features[rows]


class _ChunkBuffer:
    """Rows of the image chunk being encoded; written to the store the moment its last row arrives."""

    def __init__(self, writer: StoreWriter, dim: int):
        self.writer = writer
        self.table = writer.images
        self.features = np.empty((self.table.chunk_rows, dim), dtype=np.float32)
        self.skipped = np.zeros(self.table.chunk_rows, dtype=bool)

    def add(self, rows: np.ndarray, features: np.ndarray, skipped: np.ndarray) -> int:
        """Place a batch (rows of one chunk, in order); returns the rows written (0 until the chunk is whole)."""
        chunk = int(rows[0]) // self.table.chunk_rows
        local = rows - chunk * self.table.chunk_rows
        self.features[local] = np.where(skipped[:, None], np.nan, features)
        self.skipped[local] = skipped
        span = self.table.rows_of(chunk)
        if rows[-1] != span.stop - 1:
            return 0
        size = span.stop - span.start
        self.writer.write_chunk(self.table, chunk, self.features[:size], self.skipped[:size])
        return size


def _encode_images(writer: StoreWriter, encoder: ClipEncoder, dataset: HandDataset, chunks: list[int],
                   batch_size: int, workers: int, skip_bad: bool, progress: bool) -> int:
    """Encode and write the given image chunks, each as soon as its last batch is done; returns images written."""
    batches = chunk_batches([writer.images.rows_of(c) for c in chunks], batch_size)
    buffer = _ChunkBuffer(writer, encoder.embed_dim)
    stream = image_batches(dataset, encoder.image_transform, encoder.image_size, batches, workers,
                           pin_memory=encoder.device.type == "cuda")
    written = 0
    with tqdm(total=sum(len(b) for b in batches), desc="images", unit="img", file=sys.stderr,
              disable=not progress or not batches, smoothing=0.1) as bar:
        for batch in stream:
            skipped = np.asarray([bool(e) for e in batch.errors])
            if skipped.any() and not skip_bad:
                first = next(e for e in batch.errors if e)
                raise HanddgError(f"{first}; or pass --skip-bad to record unreadable images and carry on")
            written += buffer.add(batch.rows, encoder.encode_images(batch.pixels).numpy(), skipped)
            bar.update(len(batch.rows))
    return written


def featurize_dataset(dataset: HandDataset, store: Path | str, encoder: ClipEncoder, batch_size: int = 64,
                      workers: int | None = None, shard: str | None = None, skip_bad: bool = False,
                      image_chunk_rows: int = schema.DEFAULT_IMAGE_CHUNK_ROWS, index_kind: str = "flat",
                      progress: bool = True, prompts_from: Path | str | None = None) -> FeaturizeReport:
    """Fill (or resume) the feature store `store` of `dataset` with `encoder`'s features; see module doc.

    `prompts_from`: a complete store made with the same CLIP whose prompt features are copied, not re-encoded.
    """
    check_int("batch_size", batch_size, 1)
    check_int("chunk_rows", image_chunk_rows, 1)
    if workers is not None:
        check_int("workers", workers, 0)
    store = Path(store)
    my_shard = resolve_shard(shard)
    report = FeaturizeReport(store=store)
    start = time.perf_counter()
    with StoreWriter.open(store, store_spec(dataset, encoder, image_chunk_rows)) as writer:
        report.chunks_repaired = writer.repaired
        claimed = {}
        for table in (writer.prompts, writer.images):
            mine = [c for c in writer.pending(table) if owns(c, my_shard)]
            claimed[table.name], held = writer.claim(table, mine)
            report.chunks_held_elsewhere += len(held)
        features_of = _stored_prompts(prompts_from, encoder) if prompts_from else _encoded_prompts(encoder)
        report.prompts_written = _write_prompts(writer, claimed["prompts"], features_of, progress)
        images_start = time.perf_counter()
        report.images_written = _encode_images(writer, encoder, dataset, claimed["images"], batch_size,
                                               default_workers() if workers is None else workers, skip_bad, progress)
        report.image_seconds = time.perf_counter() - images_start
        report.complete = writer.all_done()
    report.seconds = time.perf_counter() - start
    if report.complete:
        report.index = build_store_index(store, kind=index_kind)
    report.skipped_ids = FeatureStore.open(store).skipped_ids
    return report


def featurize(dataset_root: Path | str, layout: str, split: str, store_path: Path | str, model: str = "ViT-B-32",
              weights: str = "openai", device: str = "auto", camera: str = "sk", batch_size: int = 64,
              workers: int | None = None, shard: str | None = None, skip_bad: bool = False,
              image_chunk_rows: int = schema.DEFAULT_IMAGE_CHUNK_ROWS, index_kind: str = "flat",
              progress: bool = True, prompts_from: Path | str | None = None) -> FeaturizeReport:
    """Open the dataset (`handdg.data.open_dataset`) and CLIP (`load_clip`), then run `featurize_dataset`."""
    from handdg.data import open_dataset

    dataset = open_dataset(dataset_root, layout, split=split, camera=camera)
    return featurize_dataset(dataset, store_path, load_clip(model, weights, device), batch_size=batch_size,
                             workers=workers, shard=shard, skip_bad=skip_bad, image_chunk_rows=image_chunk_rows,
                             index_kind=index_kind, progress=progress, prompts_from=prompts_from)
