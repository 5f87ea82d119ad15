"""Block-max top-k: score only the document blocks that can still enter the top k.

For one query, a block's upper bound is sum_t w_t * max impact of t in the block (see
indexing/blocks.py). Blocks are then scored in rounds, best bound first: each round
takes the next best bounds (4 times as many as the round before), scores exactly the
postings that fall in them, and raises the threshold theta, the score of the k-th best
hit so far. A block is dropped as soon as factor * bound < theta.

With factor = 1 this is rank-safe: every dropped document scores at most its block's
bound, which is below a score that k documents already reach, and a tie with the k-th
hit keeps the block (the tie could go to a lower doc number). The bound is summed in the
same order and with the same float32 rounding as the scores, so it is a true bound to
the bit. A factor below 1 drops more blocks: faster, and approximate.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .kernels import contribution, heap_push, offer_docs
from .packed_kernels import score_runs_packed

PENDING, CHOSEN = 1, 2  # block states during one query (0: not touched by the query)


@njit(cache=True, nogil=True)
def _upper_bounds(
    terms, weights, bm_indptr, bm_first, shift, bm_max, ub, state, touched
):  # pragma: no cover - jitted
    n = 0
    for i in range(terms.shape[0]):
        t = terms[i]
        w = weights[i]
        for j in range(bm_indptr[t], bm_indptr[t + 1]):
            b = bm_first[j] >> shift
            if state[b] == 0:
                state[b] = PENDING
                ub[b] = 0
                touched[n] = b
                n += 1
            ub[b] += contribution(w, bm_max[j])
    return n


@njit(cache=True, nogil=True)
def _choose(ub, state, touched, n, theta, factor, chunk, bs, bd):  # pragma: no cover - jitted
    """Keep the blocks still worth scoring at the front of `touched`; mark the `chunk`
    best of them CHOSEN. Returns how many are kept (chosen ones included)."""
    kept = 0
    size = 0
    for i in range(n):
        b = touched[i]
        if ub[b] >= 0 and ub[b] * factor >= theta:
            touched[kept] = b
            kept += 1
            size = heap_push(bs, bd, size, chunk, ub[b], b)
        else:
            state[b] = 0  # dropped, or scored in an earlier round
    for i in range(size):
        state[bd[i]] = CHOSEN
    return kept


@njit(cache=True, nogil=True)
def _score_chosen(
    terms, weights, doc_ids, impacts, bm_indptr, bm_first, shift, bm_start, state, acc
):  # pragma: no cover - jitted
    for i in range(terms.shape[0]):
        t = terms[i]
        w = weights[i]
        for j in range(bm_indptr[t], bm_indptr[t + 1]):
            if state[bm_first[j] >> shift] == CHOSEN:
                for p in range(bm_start[j], bm_start[j + 1]):
                    acc[doc_ids[p]] += contribution(w, impacts[p])


@njit(cache=True, nogil=True)
def _collect(
    touched, n, state, ub, shift, n_docs, acc, k, hs, hd, size
):  # pragma: no cover - jitted
    """Offer the documents of the CHOSEN blocks to the top-k heap and zero them again."""
    for i in range(n):
        b = touched[i]
        if state[b] != CHOSEN:
            continue
        state[b] = PENDING
        ub[b] = -1  # scored: the next _choose drops it
        lo = b << shift
        hi = min(lo + (1 << shift), n_docs)
        size = offer_docs(acc, range(lo, hi), k, hs, hd, size)
    return size


@njit(cache=True, nogil=True)
def blockmax_query(
    terms, weights, indptr, doc_ids, impacts, packed, bm_indptr, bm_first, bm_max, bm_start,
    shift, n_docs, k, factor, first_round, acc, ub, state, touched, hs, hd, bs, bd, dead,
):  # pragma: no cover - jitted  # fmt: skip
    """Top-k of one prepared query (non-negative weights); returns the heap size.

    `packed` is None, or the packed doc ids (retrieval/packed_kernels.py; then doc_ids is
    unused). Work arrays: acc (n_docs, zero on entry and exit), ub, state (zero on entry
    and exit) and touched (n_blocks each), hs/hd (k), bs/bd (the largest round). `dead`
    (deleted document numbers) are zeroed in each round's chosen blocks before their
    documents are offered, so they never enter the top k (nor raise theta).
    """
    n = _upper_bounds(terms, weights, bm_indptr, bm_first, shift, bm_max, ub, state, touched)
    size = 0
    chunk = min(first_round, bs.shape[0])
    while n > 0:
        theta = hs[0] if size == k else np.float32(0)
        n = _choose(ub, state, touched, n, theta, factor, chunk, bs, bd)
        if n == 0:
            break
        if packed is None:
            _score_chosen(terms, weights, doc_ids, impacts, bm_indptr, bm_first, shift,
                          bm_start, state, acc)  # fmt: skip
        else:
            score_runs_packed(terms, weights, indptr, impacts, packed, bm_indptr, bm_first,
                              shift, bm_start, state, CHOSEN, acc)  # fmt: skip
        for j in range(dead.shape[0]):
            if state[dead[j] >> shift] == CHOSEN:
                acc[dead[j]] = 0
        size = _collect(touched, n, state, ub, shift, n_docs, acc, k, hs, hd, size)
        chunk = min(chunk * 4, bs.shape[0])
    return size
