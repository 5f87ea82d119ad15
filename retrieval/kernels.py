"""numba kernels over term-major postings, kept apart from the API.

`retrieval.topk` is the plain numpy statement of the ranking contract (best score first,
ties to the lower internal doc number); the numba kernels below keep exactly that order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# --------------------------------------------------------------------------- top-k heap
# A min-heap of at most k (score, doc) pairs whose root is the worst hit kept: the lowest
# score and, among equal scores, the highest doc number. Ranking by (score desc, doc asc)
# is a total order, so the heap ends with the same k hits whatever order the candidates
# arrive in; that is what lets pruned and multi-threaded search equal brute force exactly.


@njit(cache=True, nogil=True, inline="always")
def _worse(s1, d1, s2, d2):  # pragma: no cover - jitted
    return s1 < s2 or (s1 == s2 and d1 > d2)


@njit(cache=True, nogil=True)
def heap_push(hs, hd, size, k, s, d):  # pragma: no cover - jitted
    """Offer (s, d) to a heap holding `size` of at most k entries; returns the new size."""
    if size < k:
        i = size
        hs[i] = s
        hd[i] = d
        while i > 0:
            parent = (i - 1) >> 1
            if not _worse(hs[i], hd[i], hs[parent], hd[parent]):
                break
            hs[i], hs[parent] = hs[parent], hs[i]
            hd[i], hd[parent] = hd[parent], hd[i]
            i = parent
        return size + 1
    if not _worse(hs[0], hd[0], s, d):
        return size
    hs[0] = s
    hd[0] = d
    _sift_down(hs, hd, 0, size)
    return size


@njit(cache=True, nogil=True)
def _sift_down(hs, hd, i, size):  # pragma: no cover - jitted
    while True:
        child = 2 * i + 1
        if child >= size:
            return
        right = child + 1
        if right < size and _worse(hs[right], hd[right], hs[child], hd[child]):
            child = right
        if not _worse(hs[child], hd[child], hs[i], hd[i]):
            return
        hs[i], hs[child] = hs[child], hs[i]
        hd[i], hd[child] = hd[child], hd[i]
        i = child


@njit(cache=True, nogil=True)
def heap_drain(hs, hd, size, out_docs, out_scores):  # pragma: no cover - jitted
    """Pop the heap into out_* best first (the worst comes off the root first)."""
    for pos in range(size - 1, -1, -1):
        out_scores[pos] = hs[0]
        out_docs[pos] = hd[0]
        last = pos
        hs[0] = hs[last]
        hd[0] = hd[last]
        _sift_down(hs, hd, 0, last)


# --------------------------------------------------------------------------- exhaustive

WINDOW_SHIFT = 18  # 2**18 docs: a 1 MiB float32 window, at home in a 2 MiB L2 cache


@njit(cache=True, nogil=True, inline="always")
def contribution(w, impact):  # pragma: no cover - jitted
    """w (float32) times impact, rounded once to float32. Every kernel, and every upper
    bound, adds exactly these values in query-term order, so pruned and exhaustive scores
    agree to the bit, and float32 rounding, being monotone, keeps block maxima true
    upper bounds."""
    return w * np.float32(impact)


@njit(cache=True, nogil=True)
def add_window(t, w, indptr, doc_ids, impacts, lo, limit, acc):  # pragma: no cover - jitted
    """Add term t's postings from lo on with doc < limit (see retrieval/taat.py); returns
    where they stop."""
    end = indptr[t + 1]
    hi = end if lo == end or doc_ids[end - 1] < limit else _gallop(doc_ids, lo, end, limit)
    for p in range(lo, hi):
        acc[doc_ids[p]] += contribution(w, impacts[p])
    return hi


@njit(cache=True, nogil=True)
def revisit(terms, doc_ids, cursors, k, acc, hs, hd, size):  # pragma: no cover - jitted
    """Offer the docs of the postings cursors[0, i]:cursors[1, i] of each term."""
    for i in range(terms.shape[0]):
        size = offer_docs(acc, doc_ids[cursors[0, i] : cursors[1, i]], k, hs, hd, size)
    return size


@njit(cache=True, nogil=True)
def offer_docs(acc, docs, k, hs, hd, size):  # pragma: no cover - jitted
    """Offer each doc of `docs` (an array or a range) to the heap, zeroing its score: a
    doc met again is then skipped. Call it once per run of docs, never once per doc: a
    call per doc, even inlined, kept numba's reference counting of the arrays in the
    loop and made block-max 2.3x slower."""
    for d in docs:
        s = acc[d]
        if s != 0:
            acc[d] = 0
            if s > 0 and (size < k or s >= hs[0]):
                size = heap_push(hs, hd, size, k, s, d)
    return size


@njit(cache=True, nogil=True)
def offer_window(acc, base, limit, k, hs, hd, size):  # pragma: no cover - jitted
    """Offer every scored document of base..limit-1 to the heap and zero the window."""
    for d in range(base, limit):
        s = acc[d]
        if s > 0 and (size < k or s >= hs[0]):
            size = heap_push(hs, hd, size, k, s, d)
    acc[base:limit] = 0
    return size


@njit(cache=True, nogil=True)
def prepare_query(terms, weights, vocab_size, out_terms, out_weights):  # pragma: no cover - jitted
    """Copy the terms inside the vocabulary with non-zero weights, in query order.
    Returns (n kept, whether any weight is negative)."""
    n = 0
    negative = False
    for i in range(terms.shape[0]):
        t = terms[i]
        w = weights[i]
        if 0 <= t < vocab_size and w != 0:
            out_terms[n] = t
            out_weights[n] = w
            negative |= w < 0
            n += 1
    return n, negative


@njit(cache=True, nogil=True)
def heaviest(terms, weights, m, out_terms, out_weights):  # pragma: no cover - jitted
    """The m heaviest terms (ties to the earlier), kept in query order: the order fixes
    the float32 sums, so it must not change. Returns how many were kept."""
    n = terms.shape[0]
    if m <= 0 or m >= n:
        out_terms[:n] = terms
        out_weights[:n] = weights
        return n
    order = np.argsort(-weights, kind="mergesort")[:m]
    order.sort()
    for i in range(m):
        out_terms[i] = terms[order[i]]
        out_weights[i] = weights[order[i]]
    return m


@njit(cache=True, nogil=True)
def _gallop(doc_ids, lo, hi, d):  # pragma: no cover - jitted
    """First position in doc_ids[lo:hi] (ascending) holding a doc >= d."""
    step = 1
    while lo + step < hi and doc_ids[lo + step] < d:
        lo += step
        step *= 2
    hi = min(lo + step + 1, hi)
    while lo < hi:
        mid = (lo + hi) >> 1
        if doc_ids[mid] < d:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def rescore(
    terms, weights, indptr, doc_ids, impacts, cands, k, cursors, hs, hd
):  # pragma: no cover - jitted
    """Exact scores of the candidate docs (ascending) with every query term; top k.

    Each term keeps a cursor that only moves forward, found by galloping, so a term
    costs about log(postings / candidates) per candidate. Sums run in query order like
    taat.taat_query, so a rescored document has exactly its exhaustive score."""
    for i in range(terms.shape[0]):
        cursors[i] = indptr[terms[i]]
    size = 0
    for c in range(cands.shape[0]):
        d = cands[c]
        s = np.float32(0)
        for i in range(terms.shape[0]):
            end = indptr[terms[i] + 1]
            p = _gallop(doc_ids, cursors[i], end, d)
            cursors[i] = p
            if p < end and doc_ids[p] == d:
                s += contribution(weights[i], impacts[p])
        if s > 0 and (size < k or s >= hs[0]):
            size = heap_push(hs, hd, size, k, s, d)
    return size
