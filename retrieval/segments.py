"""What `Searcher` searches: the segments of one snapshot, each by its own BatchSearch.

A plain in-memory index is a snapshot of one segment (`FixedIndex`); an index folder,
plain or segmented, is read by `indexing.incremental.reader.SegmentReader`. Every
segment is searched with the whole batch of queries at once (one compiled call per
segment and slice of queries). A segment with d deleted documents is asked for its top
k + d, which always holds its true top k live documents; deleted ones are dropped, and
the per-segment lists are merged per query with numpy. Ties break by segment order,
then internal number: documents are numbered globally in that order (segment offset +
internal number), so the merge sorts by (score descending, global number).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from indexing import InvertedIndex
from indexing.blocks import DEFAULT_SHIFT
from indexing.incremental.reader import NO_DOCS
from indexing.incremental.segment import Segment
from indexing.incremental.snapshot import LiveSegment
from indexing.manifest import EncoderInfo

from .batch import BatchSearch, Knobs

BASE = "base"  # the one segment of an in-memory index


@dataclass(frozen=True)
class IndexSnapshot:
    """An in-memory index seen as a snapshot of one segment (it never changes)."""

    index: InvertedIndex
    segments: tuple[LiveSegment, ...] = field(init=False)
    generation: int = 0
    idf_key: None = None

    def __post_init__(self) -> None:
        live = LiveSegment(Segment(BASE, self.index), None, NO_DOCS)
        object.__setattr__(self, "segments", (live,))

    @property
    def idf(self) -> np.ndarray | None:
        return self.index.idf

    @property
    def encoder(self) -> EncoderInfo:
        return self.index.encoder


class FixedIndex:
    """The source of an in-memory index: always the same one-segment snapshot."""

    def __init__(self, index: InvertedIndex) -> None:
        self._snapshot = IndexSnapshot(index)

    def snapshot(self) -> IndexSnapshot:
        return self._snapshot


class SegmentEngines:
    """One BatchSearch per segment, kept (with its block maxima) while the segment is."""

    def __init__(self, block_shift: int = DEFAULT_SHIFT) -> None:
        self.block_shift = block_shift
        self._engines: dict[str, BatchSearch] = {}
        self._generation: int | None = None
        self._lock = threading.Lock()

    def of(self, snap) -> list[BatchSearch]:
        if snap.generation != self._generation:
            with self._lock:
                old = self._engines
                self._engines = {s.name: old.get(s.name) or self._new(s) for s in snap.segments}
                self._generation = snap.generation
        cache = self._engines  # a stale snapshot may hold segments a newer one dropped
        return [cache.get(s.name) or self._new(s) for s in snap.segments]

    def _new(self, seg: LiveSegment) -> BatchSearch:
        return BatchSearch(seg.segment.index, self.block_shift)


def offsets(snap) -> np.ndarray:
    """Each segment's first global document number, plus the total at the end."""
    sizes = [s.segment.index.n_docs for s in snap.segments]
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])


def search_segments(
    snap, engines: list[BatchSearch], queries, k: int, knobs: Knobs, threads: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(global doc numbers, dequantised scores, counts) of the top k live documents."""
    segments = snap.segments
    if len(segments) == 1 and segments[0].mask is None:  # nothing to merge: a plain index
        docs, raw, counts = engines[0].run(queries, k, knobs, threads)
        return docs, raw * np.float32(segments[0].segment.index.scale), counts
    starts = offsets(snap)
    parts = []
    for pos, (seg, engine) in enumerate(zip(segments, engines, strict=True)):
        docs, raw, counts = engine.run(queries, k + seg.n_deleted, knobs, threads)
        live = np.arange(docs.shape[1]) < counts[:, None]
        if seg.mask is not None:
            live &= ~seg.mask[np.maximum(docs, 0)]
        live &= np.cumsum(live, axis=1) <= k  # its best k live documents
        scores = raw * np.float32(seg.segment.index.scale)
        parts.append((docs + starts[pos], scores, live))
    return merge(parts, queries.shape[0], k)


def merge(parts, n_queries: int, k: int):
    """Per query, the best k of every part's live hits: score descending, then global
    number."""
    if not parts:
        empty = np.zeros((n_queries, 0))
        return empty.astype(np.int64), empty.astype(np.float32), np.zeros(n_queries, np.int64)
    docs, scores, live = (np.concatenate(p, axis=1) for p in zip(*parts, strict=True))
    order = np.lexsort((docs, -scores, ~live), axis=1)[:, :k]
    docs = np.take_along_axis(docs, order, axis=1)
    scores = np.take_along_axis(scores, order, axis=1)
    live = np.take_along_axis(live, order, axis=1)
    docs[~live], scores[~live] = -1, 0
    return docs, scores, live.sum(axis=1).astype(np.int64)
