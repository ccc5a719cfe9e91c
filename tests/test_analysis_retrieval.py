"""Retrieval (paper Fig. 4): query building and ranking through FAISS equal to brute-force cosine."""

import numpy as np
import pytest
from analysis_store import ArrayStore, random_store

from handdg.analysis.retrieval import build_query, mix_features, prompt_feature, retrieve
from handdg.errors import HanddgError


def brute_force(store, query_vector, k, skip=None):
    feats = store.image_features().astype(np.float32)
    cos = feats @ query_vector / (np.linalg.norm(feats, axis=1) * np.linalg.norm(query_vector))
    order = [int(r) for r in np.argsort(-cos, kind="stable") if r != skip]
    return order[:k], cos


def test_mix_by_hand():
    # n([3,4]) = [0.6,0.8]; n([0,2]) = [0,1]; 0.6*[0.6,0.8] + 0.4*[0,1] = [0.36, 0.88]
    np.testing.assert_allclose(mix_features(np.array([3.0, 4.0]), np.array([0.0, 2.0]), 0.6), [0.36, 0.88], atol=1e-6)
    # without normalisation: 0.5*[3,4] + 0.5*[0,2] = [1.5, 3]
    np.testing.assert_allclose(mix_features(np.array([3.0, 4.0]), np.array([0.0, 2.0]), 0.5, normalise=False), [1.5, 3.0])
    with pytest.raises(HanddgError):
        mix_features(np.ones(2), np.ones(2), 1.5)


def test_mixed_query_excludes_itself_and_matches_brute_force():
    store = random_store(n=60, dim=16)
    query = build_query(store, prompt="17", image_id="00000005", ratio=0.6)
    assert query.kind == "mixed" and query.prompt_id == 17 and query.image_row == 5
    img = store.image_features([5])[0].astype(np.float32)
    txt = store.prompt_features()[17].astype(np.float32)
    expected_q = 0.6 * img / np.linalg.norm(img) + 0.4 * txt / np.linalg.norm(txt)
    np.testing.assert_allclose(query.vector, expected_q / np.linalg.norm(expected_q), atol=1e-5)
    hits = retrieve(store, query, k=10)
    order, cos = brute_force(store, expected_q, 10, skip=5)
    assert [h.row for h in hits] == order
    assert "00000005" not in [h.id for h in hits]
    assert [h.rank for h in hits] == list(range(1, 11))
    np.testing.assert_allclose([h.similarity for h in hits], cos[order], atol=1e-4)


def test_text_and_image_queries():
    store = random_store(n=30, dim=8)
    text = build_query(store, prompt=store.prompt_text[100])
    assert text.kind == "text" and text.prompt_id == 100 and text.image_row is None
    order, _ = brute_force(store, store.prompt_features()[100].astype(np.float32), 5)
    assert [h.row for h in retrieve(store, text, k=5)] == order
    image = build_query(store, image_id="00000003")
    hits = retrieve(store, image, k=29)
    assert len(hits) == 29 and 3 not in [h.row for h in hits]
    assert len(retrieve(store, image, k=100)) == 29  # everything but the query image


def test_known_nearest_neighbour():
    # image 0 points along x; image 1 is closest to it, image 2 orthogonal, image 3 opposite
    feats = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [-1, 0, 0]], dtype=np.float32)
    store = ArrayStore(feats, np.tile([0, 0, 1.0], (3920, 1)))
    hits = retrieve(store, build_query(store, image_id="00000000"), k=3)
    assert [h.id for h in hits] == ["00000001", "00000002", "00000003"]
    assert hits[0].similarity == pytest.approx(0.9 / np.hypot(0.9, 0.1), abs=1e-3)
    assert hits[2].similarity == pytest.approx(-1.0, abs=1e-3)


def test_bad_queries_are_one_line_errors():
    store = random_store(n=5, dim=4)
    with pytest.raises(HanddgError, match="out of range"):
        prompt_feature(store, "3920")
    with pytest.raises(HanddgError, match="nothing to search"):
        build_query(store)
    with pytest.raises(HanddgError, match="not in the store"):
        build_query(store, image_id="nope")
    with pytest.raises(HanddgError, match="at least one"):
        retrieve(store, build_query(store, image_id="00000001"), k=0)
