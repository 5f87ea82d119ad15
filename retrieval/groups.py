"""Small segments searched together: one compiled pass over a group of segments.

Each segment searched alone costs every query its fixed work (a kernel call, the query
terms' postings looked up in another index, a heap drained), and memory latency more
than arithmetic: a term's postings sit in as many places as there are segments. A run of
consecutive small segments is therefore copied, once, into one in-memory group whose
postings are term-major across the segments: term t's postings of segment 0, then of
segment 1, ..., contiguous, with doc numbers counted over the group (segment offset +
internal number). `starts[t * n_seg + s]` is where term t's postings of segment s begin;
the next entry is where they end. Runs are formed greedily from the first segment, so a
commit that appends a segment changes only the last group (rebuilt at the next search,
O(its postings)); a merge regroups the segments after the ones it replaced.

The kernel reads each query term's postings as one run over all the segments, as in a
merged index, and skips a segment's documents that score below the group heap's worst
once dequantised (on SciFact in 8 segments, CPU time against the merged index: 1.7x
visiting the segments' short runs one segment at a time, 1.4x without the floor, 0.8x
with both; docs/benchmarks.md). It keeps the segmented search's exact contract
(segments.py): each segment keeps its own raw (quantised) sums and scale, deleted
documents are zeroed in the accumulator before any is offered (so no one is asked for
k + deleted), each segment's best k live documents by (raw score desc, number asc) are
taken, and they enter the group's heap as (raw * scale, group number). The result
equals searching each segment alone and merging, hit for hit.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from indexing.incremental.snapshot import LiveSegment

from .batch import Knobs, no_hits, query_arrays, spread_slices
from .kernels import (
    contribution,
    heap_drain,
    heap_push,
    heaviest,
    prepare_query,
)

# A segment this small or smaller joins a group; a bigger one costs each query enough
# work that the fixed cost of searching it alone no longer matters.
SMALL_SEGMENT_DOCS = 1 << 14
# A group's accumulator (256 KiB of float32) stays in cache, and rebuilding the last
# group after a commit added a segment to it copies at most this many documents.
GROUP_DOCS = 1 << 16


@dataclass(frozen=True)
class SegmentGroup:
    """Consecutive segments' postings, term-major across them (see the module doc)."""

    names: tuple[str, ...]
    starts: np.ndarray  # int64, vocab * n_seg + 1
    doc_ids: np.ndarray  # int32 group numbers
    impacts: np.ndarray  # each segment's own quantised impacts
    seg_starts: np.ndarray  # int64, n_seg + 1: each segment's first group number
    scales: np.ndarray  # float32, n_seg
    vocab_size: int

    @property
    def n_docs(self) -> int:
        return int(self.seg_starts[-1])

    @classmethod
    def of(cls, segments: list[LiveSegment]) -> SegmentGroup:
        indexes = [s.segment.index for s in segments]
        n_seg, vocab = len(indexes), indexes[0].vocab_size
        counts = np.stack([np.diff(ix.indptr) for ix in indexes], axis=1)  # (vocab, n_seg)
        starts = np.zeros(vocab * n_seg + 1, dtype=np.int64)
        np.cumsum(counts.ravel(), out=starts[1:])
        seg_starts = np.concatenate([[0], np.cumsum([ix.n_docs for ix in indexes])])
        doc_ids = np.empty(int(starts[-1]), dtype=np.int32)
        impacts = np.empty(int(starts[-1]), dtype=indexes[0].impacts.dtype)
        first = starts[:-1].reshape(vocab, n_seg)
        for s, ix in enumerate(indexes):
            # posting p of term t goes to first[t, s] + (p - indptr[t])
            dest = np.repeat(first[:, s] - ix.indptr[:-1], counts[:, s])
            dest += np.arange(ix.n_postings, dtype=np.int64)
            doc_ids[dest] = ix.all_doc_ids() + np.int32(seg_starts[s])
            impacts[dest] = ix.impacts
        scales = np.array([ix.scale for ix in indexes], dtype=np.float32)
        names = tuple(s.name for s in segments)
        return cls(names, starts, doc_ids, impacts, seg_starts.astype(np.int64), scales, vocab)


def groupable(seg: LiveSegment, like: LiveSegment | None = None) -> bool:
    """Whether a segment may join a group (of `like`'s impact type, when given)."""
    index = seg.segment.index
    if index.n_docs > SMALL_SEGMENT_DOCS:
        return False
    return like is None or index.impacts.dtype == like.segment.index.impacts.dtype


def runs(snap) -> list[tuple[int, int]]:
    """(first, end) positions of the runs of small segments searched as one group: each
    run holds consecutive segments of one impact type and at most GROUP_DOCS documents.
    A lone segment without deletions is not copied: its own BatchSearch searches it."""
    segments = snap.segments
    found: list[tuple[int, int]] = []
    first, docs = None, 0  # the open run: its first position and documents

    def close(end: int) -> None:
        if first is not None and (end - first > 1 or segments[first].mask is not None):
            found.append((first, end))

    for pos, seg in enumerate(segments):
        n = seg.segment.index.n_docs
        if first is not None and (not groupable(seg, segments[first]) or docs + n > GROUP_DOCS):
            close(pos)
            first = None
        if groupable(seg):
            if first is None:
                first, docs = pos, 0
            docs += n
    close(len(segments))
    return found


def grouped_knobs(knobs: Knobs) -> bool:
    """The knobs the group kernel implements: exact term-at-a-time, optionally with fewer
    query terms. Block-max, rescoring and pruned postings search segment by segment."""
    return knobs.algorithm == "taat" and knobs.rescore == 0 and knobs.prune_postings == 0


def dead_docs(group: SegmentGroup, segments: list[LiveSegment]) -> np.ndarray:
    """The deleted documents of a snapshot's segments, as sorted group numbers."""
    each = [seg.deleted.astype(np.int64) + group.seg_starts[s] for s, seg in enumerate(segments)]
    return np.concatenate([np.zeros(0, np.int64), *each]).astype(np.int32)


@njit(cache=True, nogil=True)
def group_query(
    terms, weights, starts, doc_ids, impacts, seg_starts, scales, dead, k, acc, local_s,
    local_d, hs, hd, cursors,
):  # pragma: no cover - jitted  # fmt: skip
    """Top k of one prepared query over a group; returns the size of the heap hs/hd.

    Each term's postings are added for all the segments at once (they are contiguous:
    one run of memory per term, as in a merged index; sums in query-term order, as
    taat.taat_query), and the deleted documents zeroed. Then, per segment, its best k
    go into local_s/local_d and from there, dequantised, into the group heap. `acc` is
    all zeros on entry and exit."""
    n_seg = seg_starts.shape[0] - 1
    for i in range(terms.shape[0]):
        w = weights[i]
        for p in range(starts[terms[i] * n_seg], starts[(terms[i] + 1) * n_seg]):
            acc[doc_ids[p]] += contribution(w, impacts[p])
    for j in range(dead.shape[0]):
        acc[dead[j]] = 0
    size = 0
    for s in range(n_seg):
        total = 0
        for i in range(terms.shape[0]):
            cursors[0, i] = starts[terms[i] * n_seg + s]
            cursors[1, i] = starts[terms[i] * n_seg + s + 1]
            total += cursors[1, i] - cursors[0, i]
        # A document scoring below the group heap's worst once dequantised can neither
        # enter the result nor push out of the segment's best k one that can: skip it.
        # The margin keeps the raw-units floor below the true one despite rounding.
        full = size == k and scales[s] > 0
        floor = hs[0] / np.float64(scales[s]) * (1 - 1e-6) if full else 0.0
        base, limit = seg_starts[s], seg_starts[s + 1]
        n = _offer_segment(acc, doc_ids, cursors, terms.shape[0], base, limit,
                           total * 8 >= limit - base, floor, k, local_s, local_d)  # fmt: skip
        for j in range(n):
            size = heap_push(hs, hd, size, k, local_s[j] * scales[s], local_d[j])
    return size


@njit(cache=True, nogil=True)
def _offer_segment(
    acc, doc_ids, cursors, n_terms, base, limit, dense, floor, k, hs, hd
):  # pragma: no cover - jitted
    """Offer a segment's scored documents above `floor` to a fresh top-k heap and zero
    them: the whole range when `dense`, else only the postings' documents (as
    kernels.offer_window and kernels.revisit do). Returns the heap size."""
    size = 0
    if dense:
        for d in range(base, limit):
            s = acc[d]
            if s > floor and (size < k or s >= hs[0]):
                size = heap_push(hs, hd, size, k, s, d)
        acc[base:limit] = 0
        return size
    for i in range(n_terms):
        for p in range(cursors[0, i], cursors[1, i]):
            d = doc_ids[p]
            s = acc[d]
            if s != 0:
                acc[d] = 0
                if s > floor and (size < k or s >= hs[0]):
                    size = heap_push(hs, hd, size, k, s, d)
    return size


@njit(cache=True, nogil=True)
def _group_slice(
    queries, first, last, vocab_size, group, dead, k, max_terms, ws, out_docs, out_scores,
    out_n,
):  # pragma: no cover - jitted  # fmt: skip
    q_indptr, q_indices, q_data = queries
    starts, doc_ids, impacts, seg_starts, scales = group
    acc, local_s, local_d, hs, hd, q, w, cursors = ws
    for row in range(first, last):
        lo, hi = q_indptr[row], q_indptr[row + 1]
        n, _ = prepare_query(q_indices[lo:hi], q_data[lo:hi], vocab_size, q[0], w[0])
        m = heaviest(q[0, :n], w[0, :n], max_terms, q[1], w[1])
        size = 0
        if m > 0:
            size = group_query(q[1, :m], w[1, :m], starts, doc_ids, impacts, seg_starts,
                               scales, dead, k, acc, local_s, local_d, hs, hd,
                               cursors)  # fmt: skip
        heap_drain(hs, hd, size, out_docs[row], out_scores[row])
        out_n[row] = size


class GroupSearch:
    """Searches a batch of queries against one SegmentGroup, slices over threads; each
    thread's scratch arrays are pooled and reused (the kernel leaves them zeroed)."""

    def __init__(self, group: SegmentGroup) -> None:
        self.group = group
        self._arrays = (group.starts, group.doc_ids, group.impacts, group.seg_starts,
                        group.scales)  # fmt: skip
        self._pool: queue.SimpleQueue[tuple] = queue.SimpleQueue()

    def _workspace(self, k: int, width: int) -> tuple:
        try:
            ws = self._pool.get_nowait()
            if ws[1].shape[0] >= k and ws[5].shape[1] >= width:
                return ws
        except queue.Empty:
            pass
        return (
            np.zeros(max(self.group.n_docs, 1), dtype=np.float32),
            np.zeros(k, dtype=np.float32), np.zeros(k, dtype=np.int64),
            np.zeros(k, dtype=np.float32), np.zeros(k, dtype=np.int64),
            np.zeros((2, width), dtype=np.int64), np.zeros((2, width), dtype=np.float32),
            np.zeros((2, width), dtype=np.int64),
        )  # fmt: skip

    def run(
        self, queries: sp.csr_matrix, k: int, knobs: Knobs, dead: np.ndarray, n_threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(group numbers, dequantised scores, counts): row i holds counts[i] hits."""
        n_q, k = queries.shape[0], max(0, min(int(k), self.group.n_docs))
        docs, scores, counts = no_hits(n_q, k)
        if n_q == 0 or k == 0:
            return docs, scores, counts
        q, width = query_arrays(queries)

        def work(first: int, last: int) -> None:
            ws = self._workspace(k, width)
            try:
                _group_slice(q, first, last, self.group.vocab_size, self._arrays, dead, k,
                             knobs.query_terms, ws, docs, scores, counts)  # fmt: skip
            finally:
                self._pool.put(ws)

        spread_slices(n_q, n_threads, work)
        return docs, scores, counts
