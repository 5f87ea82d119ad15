"""Document reordering by recursive graph bisection (BP), so that similar documents get
nearby numbers.

Dhulipala et al., "Compressing Graphs and Indexes with Recursive Graph Bisection", KDD
2016 (as in PISA and BMP): the documents are split in two halves, and documents are
swapped between the halves while a swap lowers the estimated cost of coding the gaps of
every term's postings (a term with d1 documents in a half of n1 costs about
d1 * log(n1 / (d1 + 1)) bits there); then each half is split again, down to
`min_size` documents. Similar documents end up in the same small ranges, which is what
block-max search (retrieval/blockmax.py) needs for tight block bounds.

`reorder(index)` returns a new InvertedIndex whose postings are the same (term, impact)
pairs with renumbered documents: every score is unchanged, so search results are the
same up to the order of tied documents (ties break by internal number).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from .inverted_index import InvertedIndex

DEFAULT_ITERATIONS = 20  # swap rounds per split (PISA's and the paper's default)
DEFAULT_MIN_SIZE = 16  # stop splitting below this many documents


@dataclass(frozen=True)
class ReorderReport:
    """What a reordering cost and what it bought (log2 gaps: the mean over postings of
    log2(gap + 1) between consecutive documents of a term; lower is more clustered)."""

    seconds: float
    depth: int
    log_gap_before: float
    log_gap_after: float


@njit(cache=True, nogil=True)
def _log_table(n):  # pragma: no cover - jitted
    table = np.zeros(n + 2, dtype=np.float64)
    for i in range(1, n + 2):
        table[i] = np.log2(i)
    return table


@njit(cache=True, nogil=True)
def _gains(perm, lo, mid, hi, fwd_indptr, fwd_terms, deg_a, deg_b, logs, gains):
    # pragma: no cover - jitted
    """Gain of moving each document of [lo, mid) to [mid, hi) and of [mid, hi) to [lo,
    mid): the drop in the two halves' gap-coding cost estimate."""
    n_a, n_b = mid - lo, hi - mid
    la, lb = logs[n_a], logs[n_b]
    for i in range(lo, hi):
        d = perm[i]
        g = 0.0
        for p in range(fwd_indptr[d], fwd_indptr[d + 1]):
            t = fwd_terms[p]
            if i < mid:
                a, b, ln, lm = deg_a[t], deg_b[t], la, lb
            else:
                a, b, ln, lm = deg_b[t], deg_a[t], lb, la
            # cost(a in its half, b in the other) minus cost(a - 1, b + 1)
            before = a * (ln - logs[a + 1]) + b * (lm - logs[b + 1])
            after = (a - 1) * (ln - logs[a]) + (b + 1) * (lm - logs[b + 2])
            g += before - after
        gains[i] = g


@njit(cache=True, nogil=True)
def _count(perm, lo, hi, fwd_indptr, fwd_terms, deg, sign):  # pragma: no cover - jitted
    for i in range(lo, hi):
        d = perm[i]
        for p in range(fwd_indptr[d], fwd_indptr[d + 1]):
            deg[fwd_terms[p]] += sign


@njit(cache=True, nogil=True)
def _bisect(perm, lo, hi, fwd_indptr, fwd_terms, deg_a, deg_b, logs, gains, iterations):
    # pragma: no cover - jitted
    """Split perm[lo:hi] in two halves by swapping documents while swaps pay."""
    mid = lo + (hi - lo) // 2
    _count(perm, lo, mid, fwd_indptr, fwd_terms, deg_a, 1)
    _count(perm, mid, hi, fwd_indptr, fwd_terms, deg_b, 1)
    for _ in range(iterations):
        _gains(perm, lo, mid, hi, fwd_indptr, fwd_terms, deg_a, deg_b, logs, gains)
        left = lo + np.argsort(-gains[lo:mid], kind="mergesort")
        right = mid + np.argsort(-gains[mid:hi], kind="mergesort")
        swapped = 0
        new_left = perm[left].copy()
        new_right = perm[right].copy()
        for j in range(min(left.shape[0], right.shape[0])):
            if gains[left[j]] + gains[right[j]] <= 0:
                break
            da, db = new_left[j], new_right[j]
            for p in range(fwd_indptr[da], fwd_indptr[da + 1]):
                deg_a[fwd_terms[p]] -= 1
                deg_b[fwd_terms[p]] += 1
            for p in range(fwd_indptr[db], fwd_indptr[db + 1]):
                deg_b[fwd_terms[p]] -= 1
                deg_a[fwd_terms[p]] += 1
            new_left[j], new_right[j] = db, da
            swapped += 1
        perm[lo:mid] = new_left
        perm[mid:hi] = new_right
        if swapped == 0:
            break
    _count(perm, lo, mid, fwd_indptr, fwd_terms, deg_a, -1)  # back to all-zero
    _count(perm, mid, hi, fwd_indptr, fwd_terms, deg_b, -1)
    return mid


@njit(cache=True, nogil=True)
def _bp_level(perm, bounds, fwd_indptr, fwd_terms, deg_a, deg_b, logs, gains, iterations):
    # pragma: no cover - jitted
    """One level of the recursion: split every range of `bounds`; returns the next
    level's bounds."""
    out = np.empty(2 * bounds.shape[0] - 1, dtype=np.int64)
    out[0] = bounds[0]
    n = 1
    for r in range(bounds.shape[0] - 1):
        mid = _bisect(perm, bounds[r], bounds[r + 1], fwd_indptr, fwd_terms, deg_a, deg_b,
                      logs, gains, iterations)  # fmt: skip
        out[n] = mid
        out[n + 1] = bounds[r + 1]
        n += 2
    return out


def bp_order(
    docs: sp.csr_matrix,
    iterations: int = DEFAULT_ITERATIONS,
    min_size: int = DEFAULT_MIN_SIZE,
    show_progress: bool = False,
) -> tuple[np.ndarray, int]:
    """(perm, depth): perm[new number] = old number, for a (docs x terms) matrix whose
    non-zeros are what a document holds."""
    from tqdm.auto import tqdm

    fwd = sp.csr_matrix(docs)
    fwd_indptr = fwd.indptr.astype(np.int64)
    fwd_terms = fwd.indices.astype(np.int32)
    n_docs, n_terms = fwd.shape
    perm = np.arange(n_docs, dtype=np.int64)
    deg_a = np.zeros(n_terms, dtype=np.int64)
    deg_b = np.zeros(n_terms, dtype=np.int64)
    logs = _log_table(n_docs)
    gains = np.zeros(n_docs, dtype=np.float64)
    bounds = np.array([0, n_docs], dtype=np.int64)
    depth = 0
    levels = max(int(np.ceil(np.log2(max(n_docs / max(min_size, 1), 1)))), 0)
    for _ in tqdm(range(levels), desc="reordering (BP levels)", disable=not show_progress):
        bounds = _bp_level(perm, bounds, fwd_indptr, fwd_terms, deg_a, deg_b, logs, gains,
                           iterations)  # fmt: skip
        depth += 1
    return perm, depth


def mean_log_gap(index: InvertedIndex) -> float:
    """The mean over postings of log2(gap + 1), a term's first posting counting its doc
    number: the bits per posting a gap coder would need, roughly."""
    ids = index.all_doc_ids().astype(np.int64)
    if ids.size == 0:
        return 0.0
    gaps = np.diff(ids, prepend=0)
    starts = index.indptr[:-1][np.diff(index.indptr) > 0]
    gaps[starts] = ids[starts]
    return float(np.log2(gaps + 1).mean())


def renumber(index: InvertedIndex, perm: np.ndarray) -> InvertedIndex:
    """The index with document perm[i] renumbered i; postings stay term-major, sorted."""
    n = index.n_docs
    perm = np.asarray(perm, dtype=np.int64)
    if perm.shape != (n,) or not np.array_equal(np.sort(perm), np.arange(n)):
        raise ValueError(f"perm must be a permutation of the {n} document numbers")
    new_number = np.empty(n, dtype=np.int64)
    new_number[perm] = np.arange(n)
    csc = sp.csc_matrix(
        (index.impacts, new_number[index.all_doc_ids()], index.indptr),
        shape=(n, index.vocab_size),
        copy=True,  # sort_indices works in place: never on the index's own impacts
    )
    csc.sort_indices()  # ascending new numbers within each term; impacts follow them
    plain = dataclasses.replace(
        index,
        indptr=index.indptr.astype(np.int64),
        doc_ids=csc.indices.astype(np.int32),
        impacts=csc.data.astype(index.impacts.dtype, copy=False),
        docids=[index.docids[i] for i in perm.tolist()],
        packed=None,
    )
    return plain.with_compression(index.compression)


def reorder(
    index: InvertedIndex,
    iterations: int = DEFAULT_ITERATIONS,
    min_size: int = DEFAULT_MIN_SIZE,
    show_progress: bool = False,
) -> tuple[InvertedIndex, ReorderReport]:
    """The index renumbered by BP, and what it cost."""
    start = time.perf_counter()
    structure = sp.csc_matrix(
        (np.ones(index.n_postings, dtype=np.int8), index.all_doc_ids(), index.indptr),
        shape=(index.n_docs, index.vocab_size),
    ).tocsr()
    perm, depth = bp_order(structure, iterations, min_size, show_progress)
    del structure
    reordered = renumber(index, perm)
    seconds = time.perf_counter() - start
    report = ReorderReport(seconds, depth, mean_log_gap(index), mean_log_gap(reordered))
    return reordered, report
