"""Exact search: a few queries go through numpy/BLAS, batches through FAISS, with the same answers."""

import faiss
import numpy as np
import pytest

from handdg.stores import index


@pytest.fixture(scope="module")
def vectors():
    rng = np.random.default_rng(0)
    return index.normalised(rng.standard_normal((300, 16)).astype(np.float32))


def test_top_k_by_hand():
    rows = np.array([[1, 0], [0, 1], [0.6, 0.8], [-1, 0]], np.float32)
    scores, ids = index.top_k(rows, np.array([10, 11, 12, 13]), np.array([[0.8, 0.6]], np.float32), 3)
    assert ids.tolist() == [[12, 10, 11]] and ids.dtype == np.int64
    np.testing.assert_allclose(scores, [[0.96, 0.8, 0.6]], rtol=1e-6)


@pytest.mark.parametrize("count", [1, 5, index.SMALL_BATCH - 1, index.SMALL_BATCH, index.SMALL_BATCH + 16])
def test_every_query_count_gives_faiss_exact_answers(vectors, count):
    ids = np.random.default_rng(1).permutation(1000)[:len(vectors)]
    flat, _ = index.build(vectors, ids)
    queries = vectors[:count] + 0.01
    scores, rows = index.search(flat, queries, 7)
    want_scores, want_rows = flat.search(np.ascontiguousarray(queries, np.float32), 7)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5)
    assert rows[0, 0] == ids[0]


def test_small_batches_use_the_flat_rows_in_place_only_for_exact_cpu_indexes(vectors):
    flat, _ = index.build(vectors, np.arange(len(vectors)))
    restored = faiss.deserialize_index(faiss.serialize_index(flat))
    found = index.flat_rows(restored)
    assert found is not None
    np.testing.assert_array_equal(found[0], vectors)
    np.testing.assert_array_equal(found[1], np.arange(len(vectors)))
    approximate, _ = index.build(vectors, np.arange(len(vectors)), "ivf", nlist=4)
    assert index.flat_rows(approximate) is None


def test_k_beyond_the_index_size_returns_every_row_in_order(vectors):
    flat, _ = index.build(vectors[:5], np.arange(5))
    scores, rows = index.search(flat, vectors[:1], 50)
    assert sorted(rows[0].tolist()) == [0, 1, 2, 3, 4] and rows[0, 0] == 0
    assert np.all(np.diff(scores[0]) <= 0)
