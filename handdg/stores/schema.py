"""The feature store's layout: array names, attribute keys, and the provenance check.

```
<store>.zarr/                 attrs: schema_version, handdg_version, created, clip{...},
                                     dataset{name, root, split, count, fingerprint},
                                     prompts{count, vocabulary_sha256}, chunks{images, prompts}
  images/features (N, D) f16  raw CLIP image outputs, NaN rows for skipped images
  images/ids      (N,) str    the dataset's own sample ids: row <-> image
  images/skipped  (N,) bool   rows whose image could not be read (--skip-bad)
  images/done     (n,) bool   chunk c of features/skipped is written (set last)
  prompts/features (3920, D) f16, prompts/text (3920,) str, prompts/done (m,) bool
  index/          FAISS index over L2-normalised image features + its own attrs
```
"""

from __future__ import annotations

from handdg.errors import HanddgError

SCHEMA_VERSION = 1

IMAGE_FEATURES = "images/features"
IMAGE_IDS = "images/ids"
IMAGE_SKIPPED = "images/skipped"
IMAGE_DONE = "images/done"
PROMPT_FEATURES = "prompts/features"
PROMPT_TEXT = "prompts/text"
PROMPT_DONE = "prompts/done"
INDEX_GROUP = "index"
INDEX_BYTES = "index/faiss"

DEFAULT_IMAGE_CHUNK_ROWS = 2048
DEFAULT_PROMPT_CHUNK_ROWS = 980
INDEX_KINDS = ("flat", "ivf", "hnsw")

# The provenance fields that must agree before a run may add rows to an existing store.
IDENTITY_FIELDS = (
    ("clip", "model"),
    ("clip", "weights"),
    ("clip", "embed_dim"),
    ("dataset", "name"),
    ("dataset", "split"),
    ("dataset", "count"),
    ("dataset", "fingerprint"),
    ("prompts", "count"),
    ("prompts", "vocabulary_sha256"),
)


def chunk_count(rows: int, chunk_rows: int) -> int:
    """Number of chunks of `chunk_rows` rows that hold `rows` rows."""
    return -(-rows // chunk_rows)


def chunk_slice(chunk: int, rows: int, chunk_rows: int) -> slice:
    """Rows of chunk `chunk`."""
    return slice(chunk * chunk_rows, min(rows, (chunk + 1) * chunk_rows))


def check_identity(store_path: str, existing: dict, wanted: dict) -> None:
    """HanddgError naming the first provenance field where a store and a run disagree."""
    if existing.get("schema_version") != SCHEMA_VERSION:
        raise HanddgError(
            f"{store_path} has schema version {existing.get('schema_version')!r}, this handdg writes "
            f"{SCHEMA_VERSION} (featurize into a new --store path)"
        )
    for group, key in IDENTITY_FIELDS:
        have = existing.get(group, {}).get(key)
        want = wanted.get(group, {}).get(key)
        if have != want:
            raise HanddgError(
                f"{store_path} was made with {group}.{key}={have!r}, this run has {want!r}; "
                "rerun with the store's own options or featurize into a new --store path"
            )
