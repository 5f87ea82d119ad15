"""Exhaustive top-k, term at a time, over plain or packed doc ids (one driver for both).

On a large corpus the documents are scored one window of 2**window_shift numbers at a
time: every term's postings in the window (contiguous, since postings are sorted by
document), then the window's candidates. The accumulator entries being updated then
stay in cache instead of spreading over all of n_docs.
"""

from __future__ import annotations

from numba import njit

from .kernels import add_window, offer_window, revisit
from .packed_kernels import add_window_packed, revisit_packed


@njit(cache=True, nogil=True)
def taat_query(
    terms, weights, indptr, doc_ids, impacts, packed, n_docs, k, acc, hs, hd, cursors, buf,
    window_shift, dead,
):  # pragma: no cover - jitted  # fmt: skip
    """Exact top-k of one prepared query; returns the heap size.

    `packed` is None (doc_ids are read) or a PackedDocIds tuple (doc_ids are not; buf is
    a 128-entry scratch block): numba compiles one specialisation per case, with the
    other branch removed. `acc` is all zeros on entry and is left all zeros; `cursors`
    is (2, at least len(terms)): where each term's postings in the current window start
    and stop. `dead` (sorted document numbers, deleted) are zeroed before a window's
    documents are offered, so they never enter the top k.
    """
    for i in range(terms.shape[0]):
        cursors[0, i] = indptr[terms[i]]
    size = 0
    next_dead = 0
    window = 1 << window_shift
    for base in range(0, n_docs, window):
        limit = min(base + window, n_docs)
        total = 0
        for i in range(terms.shape[0]):
            t, w, lo = terms[i], weights[i], cursors[0, i]
            if packed is None:
                hi = add_window(t, w, indptr, doc_ids, impacts, lo, limit, acc)
            else:
                hi = add_window_packed(t, w, indptr, impacts, packed, lo, limit, n_docs, acc, buf)
            cursors[1, i] = hi
            total += hi - lo
        while next_dead < dead.shape[0] and dead[next_dead] < limit:
            acc[dead[next_dead]] = 0
            next_dead += 1
        if total * 8 < limit - base:  # few postings: revisit them, not the whole window
            if packed is None:
                size = revisit(terms, doc_ids, cursors, k, acc, hs, hd, size)
            else:
                size = revisit_packed(terms, indptr, packed, cursors, k, acc, hs, hd, size, buf)
        else:
            size = offer_window(acc, base, limit, k, hs, hd, size)
        for i in range(terms.shape[0]):
            cursors[0, i] = cursors[1, i]
    return size
