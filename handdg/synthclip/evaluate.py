"""Whether a CLIP means something on synthetic hands: zero-shot attributes from prompt similarity, and text retrieval.

Both take L2-normalised image features and the images' attribute records (synth sidecar).
Zero-shot: a class (a hand colour, a background word, room or background) is the mean
normalised feature of the 3,920 Table 2 prompts that name it; an image gets the nearest class.
Retrieval: for every hand colour x background word with at least `min_matches` matching images,
the query "a photo of <hand colour> hand with <word> background" ranks all images; precision@k
counts the top k that show both.
"""

from __future__ import annotations

import numpy as np
import torch

from handdg.featurize.clip import ClipEncoder
from handdg.prompts import VOCABULARY, all_prompts, id_to_parts
from handdg.synth.attributes import BACKGROUND_WORDS, HAND_COLOURS, PLACES

_FIELDS = {"hand_colour": (1, HAND_COLOURS), "colour": (3, BACKGROUND_WORDS), "place": (4, PLACES)}


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length."""
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def encode_images(encoder: ClipEncoder, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """(N, D) unit image features of uint8 images already at the encoder's input size."""
    from handdg.synthclip.data import normalize

    feats = [encoder.encode_images(normalize(images[i:i + batch_size], encoder.mean, encoder.std))
             for i in range(0, len(images), batch_size)]
    return _unit(torch.cat(feats).numpy())


def class_prototypes(prompt_features: np.ndarray, field: str) -> tuple[tuple[str, ...], np.ndarray]:
    """(class words, (C, D) unit mean prompt feature per class) for one attribute field."""
    slot, words = _FIELDS[field]
    feats = _unit(np.asarray(prompt_features, np.float64))
    labels = [VOCABULARY[slot][id_to_parts(pid).as_tuple()[slot]] for pid in range(len(feats))]
    protos = np.stack([feats[[i for i, w in enumerate(labels) if w == word]].mean(0) for word in words])
    return words, _unit(protos)


def zero_shot(image_features: np.ndarray, records: list[dict], prompt_features: np.ndarray) -> dict[str, float]:
    """Accuracy of the nearest prompt class for hand colour, background word and room/background."""
    out = {}
    for field in _FIELDS:
        words, protos = class_prototypes(prompt_features, field)
        predicted = np.argmax(image_features @ protos.T, axis=1)
        truth = np.array([words.index(r[field]) for r in records])
        out[f"{field}_accuracy"] = float(np.mean(predicted == truth))
    return out


def retrieval_precision(encoder: ClipEncoder, image_features: np.ndarray, records: list[dict], k: int = 10,
                        min_matches: int = 10) -> dict:
    """Mean precision@k over hand colour x background word queries with >= min_matches matching images."""
    queries, relevant = [], []
    for hc in HAND_COLOURS:
        for word in BACKGROUND_WORDS:
            match = np.array([r["hand_colour"] == hc and r["colour"] == word for r in records])
            if match.sum() >= min_matches:
                queries.append(f"a photo of {hc} hand with {word} background")
                relevant.append(match)
    if not queries:
        return {"precision_at_k": float("nan"), "k": k, "queries": 0, "per_query": {}}
    text = _unit(encoder.encode_text(queries).numpy())
    top = np.argsort(-(text @ image_features.T), axis=1)[:, :k]
    per_query = {q: float(rel[t].mean()) for q, rel, t in zip(queries, relevant, top)}
    return {"precision_at_k": float(np.mean(list(per_query.values()))), "k": k, "queries": len(queries),
            "per_query": per_query}


def prompt_features(encoder: ClipEncoder) -> np.ndarray:
    """Features of the 3,920 Table 2 prompts."""
    return encoder.encode_text(list(all_prompts())).numpy()
