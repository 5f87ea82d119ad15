"""Exact top-k in numpy: the ranking contract, stated once.

Every ranking spire makes, the compiled kernels included, keeps the k best documents
with a positive score, best score first, ties to the lower document number (a total
order, so the result never depends on the order candidates arrive in). The kernels
(kernels.py) keep it in their heaps; everything else that ranks documents by score calls
this module: brute-force search in the tests, dev evaluation during training
(training/dev_eval.py), BM25 mining (training/bm25.py), and the merge of segment lists
(segments.py). Runs written to disk are then ordered by eval.data.run.ranked.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def best_k(docs: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best (doc, score) candidates: score descending, then doc
    ascending."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    keep = np.arange(scores.size)
    if scores.size > k:
        # Only what can make the top k; ties at the k-th score all stay, and the
        # deterministic sort below chooses among them.
        cutoff = np.partition(scores, scores.size - k)[scores.size - k]
        keep = np.flatnonzero(scores >= cutoff)
    return keep[np.lexsort((docs[keep], -scores[keep]))[:k]]


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best positive entries of a dense score vector: (doc numbers, scores)."""
    candidates = np.flatnonzero(scores > 0)
    chosen = candidates[best_k(candidates, scores[candidates], k)]
    return chosen, scores[chosen]


def top_k_rows(scores: sp.spmatrix, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's k best positive entries of a (queries, documents) score matrix, as
    `Searcher.search_arrays` returns them: (doc numbers, scores, counts), row i holding
    counts[i] hits, then padding (-1, 0)."""
    scores = sp.csr_matrix(scores)
    n, k = scores.shape[0], max(0, min(int(k), scores.shape[1]))
    docs = np.full((n, k), -1, dtype=np.int64)
    values = np.zeros((n, k), dtype=scores.dtype)
    counts = np.zeros(n, dtype=np.int64)
    for i in range(n):
        lo, hi = scores.indptr[i], scores.indptr[i + 1]
        row, cols = scores.data[lo:hi], scores.indices[lo:hi]
        positive = row > 0
        row, cols = row[positive], cols[positive]
        chosen = best_k(cols, row, k)
        counts[i] = chosen.size
        docs[i, : chosen.size], values[i, : chosen.size] = cols[chosen], row[chosen]
    return docs, values, counts


def best_k_rows(
    docs: np.ndarray, scores: np.ndarray, valid: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the k best of the valid (doc, score) candidates of (n, m) arrays (the
    lists of several segments side by side), in the shape of `top_k_rows`."""
    order = np.lexsort((docs, -scores, ~valid), axis=1)[:, :k]
    docs = np.take_along_axis(docs, order, axis=1)
    scores = np.take_along_axis(scores, order, axis=1)
    valid = np.take_along_axis(valid, order, axis=1)
    docs[~valid], scores[~valid] = -1, 0
    return docs, scores, valid.sum(axis=1).astype(np.int64)
