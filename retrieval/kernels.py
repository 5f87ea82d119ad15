"""numba kernels over term-major postings, kept apart from the API."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def accumulate(q_terms, q_weights, indptr, doc_ids, impacts, acc):  # pragma: no cover - jitted
    """Term-at-a-time: acc[doc] += w_q(t) * impact(t, doc) over each query term's postings."""
    for i in range(q_terms.shape[0]):
        t = q_terms[i]
        if t < 0 or t + 1 >= indptr.shape[0]:
            continue
        w = q_weights[i]
        for p in range(indptr[t], indptr[t + 1]):
            acc[doc_ids[p]] += w * impacts[p]


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best positive scores, best first; ties go to the lower document number."""
    candidates = np.flatnonzero(scores > 0)
    if candidates.size > k:
        part = np.argpartition(-scores[candidates], k - 1)[:k]
        # argpartition may split a tie at the k-th score arbitrarily: take every doc that
        # ties the cut-off, then let the deterministic sort below choose.
        cutoff = scores[candidates[part]].min()
        candidates = candidates[scores[candidates] >= cutoff]
    order = np.lexsort((candidates, -scores[candidates]))[:k]
    chosen = candidates[order]
    return chosen, scores[chosen]


def score_one(
    q_terms: np.ndarray,
    q_weights: np.ndarray,
    indptr: np.ndarray,
    doc_ids: np.ndarray,
    impacts: np.ndarray,
    n_docs: int,
) -> np.ndarray:
    acc = np.zeros(n_docs, dtype=np.float32)
    if q_terms.size:
        accumulate(
            q_terms.astype(np.int64), q_weights.astype(np.float32), indptr, doc_ids, impacts, acc
        )
    return acc
