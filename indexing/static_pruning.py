"""Static index pruning: drop postings at build time that rarely decide a top-k.

Two classic knobs, each returning a new InvertedIndex (the input is not changed):
- `prune_postings(index, max_postings)`: keep the `max_postings` largest impacts of each
  term (Seismic's "n_postings"), which shortens exactly the long, expensive lists;
- `prune_documents(index, terms_per_doc)`: keep the `terms_per_doc` largest impacts of
  each document, which shrinks the index evenly.
Ties at a cut go to the lower document number (per term) or the lower term number
(per document), so pruning is deterministic. A knob of 0
(or one at least as large as the longest list or document) keeps every posting, and
search over the result equals search over the original.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
from numba import njit

from .inverted_index import InvertedIndex


@njit(cache=True, nogil=True)
def _keep_largest(indptr, values, limit, keep):  # pragma: no cover - jitted
    """keep[p] = True for the `limit` largest values of each row, ties to the earlier."""
    for r in range(indptr.shape[0] - 1):
        lo, hi = indptr[r], indptr[r + 1]
        n = hi - lo
        if n <= limit:
            keep[lo:hi] = True
            continue
        row = values[lo:hi]
        cut = np.sort(row)[n - limit]  # the limit-th largest value
        above = 0
        for p in range(lo, hi):
            above += values[p] > cut
        room = limit - above  # how many of the values equal to the cut still fit
        for p in range(lo, hi):
            v = values[p]
            if v > cut:
                keep[p] = True
            elif v == cut and room > 0:
                keep[p] = True
                room -= 1


def _with_postings(index: InvertedIndex, keep: np.ndarray) -> InvertedIndex:
    """The kept postings, stored as compactly as the input (packed stays packed)."""
    kept_before = np.zeros(keep.size + 1, dtype=np.int64)
    np.cumsum(keep, out=kept_before[1:])
    pruned = dataclasses.replace(
        index, indptr=kept_before[np.asarray(index.indptr)], packed=None,
        doc_ids=np.asarray(index.all_doc_ids())[keep], impacts=np.asarray(index.impacts)[keep],
    )  # fmt: skip
    return pruned.with_compression(index.compression)


def prune_postings(index: InvertedIndex, max_postings: int) -> InvertedIndex:
    """Keep at most `max_postings` postings per term, the largest impacts (0: keep all)."""
    if max_postings < 0:
        raise ValueError(f"max_postings must be >= 0 (0 keeps all), got {max_postings}")
    if max_postings == 0:
        return dataclasses.replace(index)
    keep = np.zeros(index.n_postings, dtype=np.bool_)
    _keep_largest(np.asarray(index.indptr, dtype=np.int64), index.impacts, max_postings, keep)
    return _with_postings(index, keep)


def prune_documents(index: InvertedIndex, terms_per_doc: int) -> InvertedIndex:
    """Keep at most `terms_per_doc` terms per document, the largest impacts (0: keep all)."""
    if terms_per_doc < 0:
        raise ValueError(f"terms_per_doc must be >= 0 (0 keeps all), got {terms_per_doc}")
    if terms_per_doc == 0:
        return dataclasses.replace(index)
    # Number the postings, go document-major to choose, and map the choice back.
    order = np.arange(index.n_postings, dtype=np.int64)
    csc = sp.csc_matrix(
        (order, np.asarray(index.all_doc_ids()), np.asarray(index.indptr)),
        shape=(index.n_docs, index.vocab_size),
    )
    csr = csc.tocsr()
    csr.sort_indices()  # within a document, terms ascending: ties go to the lower term
    by_doc = np.asarray(index.impacts)[csr.data]
    keep_by_doc = np.zeros(csr.data.size, dtype=np.bool_)
    _keep_largest(csr.indptr.astype(np.int64), by_doc, terms_per_doc, keep_by_doc)
    keep = np.zeros(index.n_postings, dtype=np.bool_)
    keep[csr.data[keep_by_doc]] = True
    return _with_postings(index, keep)
