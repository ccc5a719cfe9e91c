"""`handdg store verify`: read every chunk, the attributes and the index, and list what is wrong."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from handdg import prompts as prompt_table
from handdg.stores import index as faiss_index
from handdg.stores import schema
from handdg.stores.feature_store import FeatureStore
from handdg.stores.integrity import DamagedStore, chunk_file
from handdg.stores.writer import Table

REQUIRED_ATTRS = {
    "clip": ("model", "weights", "embed_dim"),
    "dataset": ("name", "split", "count", "fingerprint"),
    "prompts": ("count", "vocabulary_sha256"),
    "chunks": ("images", "prompts"),
}
SELF_SEARCH_ROWS = 8
REDO = "re-run the `handdg featurize` command that made the store to redo it"


def _attr_problems(attrs: dict) -> list[str]:
    """Missing or wrong top-level attributes."""
    problems = []
    if attrs.get("schema_version") != schema.SCHEMA_VERSION:
        problems.append(f"schema_version is {attrs.get('schema_version')!r}, expected {schema.SCHEMA_VERSION}")
    for group, keys in REQUIRED_ATTRS.items():
        missing = [k for k in keys if k not in attrs.get(group, {})]
        if missing:
            problems.append(f"attribute {group} lacks {', '.join(missing)}")
    return problems


def _shape_problems(store: FeatureStore) -> list[str]:
    """Arrays whose shape disagrees with the attributes."""
    group, attrs, dim = store.group, store.attrs, store.embed_dim
    count, prompts = attrs["dataset"]["count"], attrs["prompts"]["count"]
    expected = {
        schema.IMAGE_FEATURES: (count, dim), schema.IMAGE_IDS: (count,), schema.IMAGE_SKIPPED: (count,),
        schema.IMAGE_DONE: (store.image_table.chunks,), schema.PROMPT_FEATURES: (prompts, dim),
        schema.PROMPT_TEXT: (prompts,), schema.PROMPT_DONE: (store.prompt_table.chunks,),
    }
    problems = []
    for name, shape in expected.items():
        if name not in group:
            problems.append(f"array {name} is missing")
        elif tuple(group[name].shape) != shape:
            problems.append(f"array {name} has shape {tuple(group[name].shape)}, expected {shape}")
    return problems


def _content_problems(store: FeatureStore) -> list[str]:
    """Duplicate ids, and prompt text that differs from this handdg's Table 2."""
    problems = []
    if len(set(store.ids.tolist())) != len(store.ids):
        problems.append("images/ids holds duplicate sample ids")
    if store.attrs["prompts"]["vocabulary_sha256"] == prompt_table.vocabulary_sha256():
        if tuple(store.prompt_text) != prompt_table.all_prompts():
            problems.append("prompts/text differs from the prompts of the vocabulary it names")
    return problems


def _chunk_problems(store: FeatureStore, table: Table, skipped: np.ndarray | None, progress: bool) -> list[str]:
    """Chunks not marked done, unreadable, or holding non-finite features where an image was read."""
    problems = []
    done = store.done_chunks(table.name)
    for chunk in tqdm(range(table.chunks), desc=f"verify {table.name}", unit="chunk", file=sys.stderr,
                      disable=not progress):
        rows = table.rows_of(chunk)
        where = f"{table.name} chunk {chunk} (rows {rows.start}-{rows.stop - 1})"
        if not done[chunk]:
            problems.append(f"{where} is not written (resume with `handdg featurize`)")
            continue
        try:
            values = np.asarray(store.group[table.features][rows], dtype=np.float32)
        except Exception as exc:  # noqa: BLE001 - any decode failure of a chunk file is a finding
            problems.append(f"{where} cannot be read ({type(exc).__name__}); {REDO}")
            continue
        bad = np.zeros(len(values), dtype=bool) if skipped is None else skipped[rows]
        if not chunk_file(store.path, store.group[table.features], chunk).is_file() and not bad.all():
            problems.append(f"{where}: its chunk file is missing; {REDO}")
            continue
        finite = np.isfinite(values).all(axis=1)
        if not finite[~bad].all():
            problems.append(f"{where} has {int((~finite[~bad]).sum())} rows with missing or non-finite features; {REDO}")
        if finite[bad].any():
            problems.append(f"{where} has skipped rows holding features")
    return problems


def _index_problems(store: FeatureStore) -> list[str]:
    """A complete store's index: present, built from these features, and finding rows by themselves."""
    try:
        attrs = store.index_attrs
    except DamagedStore as exc:
        return [str(exc)]
    if attrs is None:
        return ["index is missing (run `handdg index build`)"]
    features, skipped = store.image_features(), store.skipped
    problems = []
    if attrs["features_sha256"] != faiss_index.features_digest(features, skipped):
        problems.append("index was built from other features than the store holds (run `handdg index build --force`)")
    if attrs["count"] != int((~skipped).sum()):
        problems.append(f"index holds {attrs['count']} rows, the store {int((~skipped).sum())} readable images")
    rows = np.flatnonzero(~skipped)[:SELF_SEARCH_ROWS]
    scores, _ = store.search(faiss_index.normalised(features[rows]), 1)
    if attrs["kind"] == "flat" and not np.allclose(scores[:, 0], 1.0, atol=1e-3):
        problems.append("index search does not find stored rows at cosine 1 (rebuild with `handdg index build --force`)")
    return problems


def verify_store(path: Path | str, progress: bool = True) -> list[str]:
    """Every problem found in the store at `path`, one line each (empty when the store is sound and complete)."""
    store = FeatureStore.open(path)
    problems = _attr_problems(store.attrs)
    if problems:
        return problems
    problems = _shape_problems(store)
    if problems:
        return problems
    for check in (_content_problems, lambda s: _chunk_problems(s, s.prompt_table, None, progress),
                  lambda s: _chunk_problems(s, s.image_table, s.skipped, progress)):
        try:
            problems += check(store)
        except DamagedStore as exc:
            problems.append(f"{exc.what}; {REDO}")
    if not problems:
        problems += _index_problems(store)
    return problems
