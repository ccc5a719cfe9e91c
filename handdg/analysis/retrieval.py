"""Paper Fig. 4 retrieval: rank a store's images by cosine similarity to a text, image or mixed query.

The mixed query is q = r·n(f_CI(image)) + (1−r)·n(f_CT(prompt)) (n = L2 normalisation), the
same feature training mixes. Images are ranked by cos(q, f_CI(x)) through the store's FAISS
index; the query image itself is left out, as in the paper.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np
import torch

from handdg.analysis.store_view import StoreView, l2_normalise
from handdg.errors import HanddgError
from handdg.inputs.features import mix
from handdg.options import check_ratio

PROMPT_ID = re.compile(r"[+-]?\d+")
"""A --prompt that is a (possibly signed) integer is a prompt id, never text."""
SHOWN_OVERFLOW = 60


@dataclass(frozen=True)
class Query:
    """A retrieval query: its unit vector and what it was built from."""

    vector: np.ndarray  # (D,) float32, unit norm
    kind: str  # "text" | "image" | "mixed"
    prompt: str | None = None
    prompt_id: int | None = None
    image_id: str | None = None
    image_row: int | None = None
    ratio: float | None = None

    def describe(self) -> dict:
        """The query as JSON-ready fields (without the vector)."""
        fields = asdict(self)
        fields.pop("vector")
        return fields


@dataclass(frozen=True)
class Hit:
    """One retrieved image: 1-based rank, store row, sample id and cosine similarity to the query."""

    rank: int
    row: int
    id: str
    similarity: float


def mix_features(image_feature: np.ndarray, text_feature: np.ndarray, ratio: float,
                 normalise: bool = True) -> np.ndarray:
    """f = r·n(f_CI) + (1−r)·n(f_CT) (without the n's when `normalise` is False), float32 numpy.

    The very mixing training uses (`handdg.inputs.features.mix`), so a query is a training feature.
    """
    if not 0.0 <= ratio <= 1.0:
        raise HanddgError(f"ratio r = {ratio} is outside [0, 1]; pick the image weight r in 0..1")
    image = torch.from_numpy(np.asarray(image_feature, dtype=np.float32))
    text = torch.from_numpy(np.asarray(text_feature, dtype=np.float32))
    return mix(image, text, ratio, normalise).numpy()


def prompt_feature(store: StoreView, prompt: str, clip_weights: str | None = None) -> tuple[np.ndarray, str, int | None]:
    """The CLIP text feature of `prompt`: a prompt id (0..3919) or any text.

    Ids and texts among the store's 3,920 prompts use the stored features; other text is encoded
    with the store's own CLIP (refused if those weights cannot be loaded here).
    Returns (feature, prompt text, prompt id or None).
    """
    texts = list(store.prompt_text)
    if not prompt.strip():
        raise HanddgError("--prompt is empty: give a prompt id (0..3919, see `handdg prompts`) or some text")
    if PROMPT_ID.fullmatch(prompt.strip()):
        pid = int(prompt)
        if not 0 <= pid < len(texts):
            raise HanddgError(f"prompt id {pid} is out of range; ids run 0..{len(texts) - 1} (see `handdg prompts`)")
        return store.prompt_features()[pid].astype(np.float32), texts[pid], pid
    if prompt in texts:
        pid = texts.index(prompt)
        return store.prompt_features()[pid].astype(np.float32), prompt, pid
    return encode_with_store_clip(store, [prompt], clip_weights)[0], prompt, None


def encode_with_store_clip(store: StoreView, texts: list[str], clip_weights: str | None = None) -> np.ndarray:
    """Encode `texts` with the CLIP the store was made with; refuse any other CLIP."""
    from handdg.featurize.clip import load_clip

    made_with = store.clip_provenance
    if clip_weights is None and str(made_with.get("weights", "")).startswith("sha256:"):
        raise HanddgError(
            f"this store was made with the local CLIP checkpoint {made_with.get('weights_file', made_with['weights'])}; "
            "pass --clip-weights PATH to encode free text, or give a prompt id (0..3919)"
        )
    encoder = load_clip(made_with["model"], weights=clip_weights or made_with["weights"], device="cpu")
    if encoder.provenance.get("weights") != made_with.get("weights"):
        raise HanddgError(
            f"--clip-weights {clip_weights} is not the CLIP this store was made with "
            f"({made_with.get('weights')}); pass the same checkpoint, or give a prompt id instead of free text"
        )
    for text in texts:
        cut = encoder.overflow(text)
        if cut is not None:
            shown = cut if len(cut) <= SHOWN_OVERFLOW else cut[:SHOWN_OVERFLOW] + "..."
            raise HanddgError(f"--prompt is longer than CLIP's 77-token context: {len(cut.split())} words would be "
                              f"cut and never seen ({shown!r}); shorten it to fit")
    return np.asarray(encoder.encode_text(texts), dtype=np.float32)


def build_query(store: StoreView, prompt: str | None = None, image_id: str | None = None,
                ratio: float = 0.6, clip_weights: str | None = None) -> Query:
    """A text query (prompt only), image query (image only) or mixed query (both, weighted by r)."""
    if prompt is None and image_id is None:
        raise HanddgError("nothing to search for: give --prompt, --image or both")
    check_ratio(ratio)
    text = prompt_feature(store, prompt, clip_weights) if prompt is not None else None
    row = int(store.row_of([image_id])[0]) if image_id is not None else None
    image = store.image_features(np.array([row]))[0].astype(np.float32) if row is not None else None
    if text is not None and image is not None:
        vector, kind, used_ratio = mix_features(image, text[0], ratio), "mixed", ratio
    elif text is not None:
        vector, kind, used_ratio = text[0], "text", None
    else:
        vector, kind, used_ratio = image, "image", None
    return Query(
        vector=l2_normalise(vector), kind=kind,
        prompt=text[1] if text else None, prompt_id=text[2] if text else None,
        image_id=image_id, image_row=row, ratio=used_ratio,
    )


def retrieve(store: StoreView, query: Query, k: int = 10) -> list[Hit]:
    """The k images most cosine-similar to `query`, best first, through the store's FAISS index.

    The query image (if any) is never among the hits.
    """
    if k < 1:
        raise HanddgError(f"-k {k}: ask for at least one result")
    skip = query.image_row
    want = min(k + (skip is not None), len(store.ids))
    scores, rows = store.search(query.vector[None, :].astype(np.float32), want)
    hits: list[Hit] = []
    for row, score in zip(rows[0].tolist(), scores[0].tolist()):
        if row < 0 or row == skip:
            continue
        hits.append(Hit(rank=len(hits) + 1, row=row, id=str(store.ids[row]), similarity=float(score)))
    return hits[:k]
