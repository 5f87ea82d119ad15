"""The one exact top-k (retrieval/topk.py) against a full sort, ties included, and its
callers (dev evaluation, BM25 mining) against what they returned before it."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from retrieval.topk import best_k_rows, top_k, top_k_rows
from training.bm25 import BM25


def full_sort(row: np.ndarray, k: int) -> list[int]:
    """Every positive entry sorted by (score desc, doc asc): the contract, by brute force."""
    return sorted(np.flatnonzero(row > 0).tolist(), key=lambda d: (-row[d], d))[:k]


@pytest.mark.parametrize("k", [0, 1, 3, 7, 50])
def test_top_k_rows_equals_a_full_sort(k):
    rng = np.random.default_rng(1)
    dense = rng.integers(-1, 4, size=(30, 40)).astype(np.float32)  # many ties, some < 0
    dense[5] = 0  # a query that matches nothing
    docs, scores, counts = top_k_rows(sp.csr_matrix(dense), k)
    for i, row in enumerate(dense):
        want = full_sort(row, k)
        assert docs[i, : counts[i]].tolist() == want
        assert scores[i, : counts[i]].tolist() == row[want].tolist()
        assert (docs[i, counts[i] :] == -1).all() and (scores[i, counts[i] :] == 0).all()
        assert top_k(row, k)[0].tolist() == want
    assert counts[5] == 0


def test_best_k_rows_keeps_valid_candidates_only():
    docs = np.array([[4, 2, 9, 1]])
    scores = np.array([[1.0, 2.0, 2.0, 5.0]], dtype=np.float32)
    valid = np.array([[True, True, True, False]])
    got_docs, got_scores, counts = best_k_rows(docs, scores, valid, 3)
    assert got_docs.tolist() == [[2, 9, 4]] and counts.tolist() == [3]
    assert got_scores.tolist() == [[2.0, 2.0, 1.0]]


def test_bm25_top_k_is_the_stable_sort_it_replaced():
    texts = ["cat sat mat", "dog", "cat cat", "bird song", "cat dog", "fish", "mat mat"] * 3
    bm25 = BM25(texts)
    queries = ["cat", "dog mat", "unknownword", "song"]
    dense = (bm25.query_matrix(queries) @ bm25.weights.T).toarray()
    for k in (1, 5, 21, 40):
        want = np.argsort(-dense, axis=1, kind="stable")[:, : min(k, len(texts))]
        assert bm25.top_k(queries, k).tolist() == want.tolist()
