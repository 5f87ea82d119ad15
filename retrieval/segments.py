"""What `Searcher` searches: the segments of one snapshot, each by its own BatchSearch.

A plain in-memory index is a snapshot of one segment (`FixedIndex`); an index folder,
plain or segmented, is read by `indexing.incremental.reader.SegmentReader`. The batch
of queries is searched at once (one compiled call per part and slice of queries), part
by part: a run of consecutive small segments is one part, copied once into a group and
searched in one pass (groups.py); any other segment is a part of its own, searched by
its BatchSearch. Either way a segment's deleted documents are masked inside the kernel
(zeroed in the accumulator before any document is offered), so each part is asked for
k, never k + deleted. The parts' lists are merged per query with numpy.

The contract, whichever way a segment is searched: a segment's best k live documents by
(raw score desc, internal number asc), dequantised by its own scale, then the best k of
all of them by (score desc, global number asc). Documents are numbered globally in
segment order (segment offset + internal number).
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
from .groups import GroupSearch, SegmentGroup, dead_docs, grouped_knobs, runs
from .topk import best_k_rows

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
    """One BatchSearch per segment, kept (with its block maxima) while the segment is,
    and one GroupSearch per run of small segments, kept while the run is."""

    def __init__(self, block_shift: int = DEFAULT_SHIFT) -> None:
        self.block_shift = block_shift
        self._engines: dict[str, BatchSearch] = {}
        self._groups: dict[tuple[str, ...], GroupSearch] = {}
        self._generation: int | None = None
        self._plan: tuple[int | None, dict | None] = (None, None)
        self._lock = threading.Lock()

    def of(self, snap) -> list[BatchSearch]:
        if snap.generation != self._generation:
            with self._lock:
                old = self._engines
                self._engines = {s.name: old.get(s.name) or self._new(s) for s in snap.segments}
                names = {tuple(s.name for s in snap.segments[a:b]) for a, b in runs(snap)}
                self._groups = {n: g for n, g in self._groups.items() if n in names}
                self._generation = snap.generation
        cache = self._engines  # a stale snapshot may hold segments a newer one dropped
        return [cache.get(s.name) or self._new(s) for s in snap.segments]

    def groups(self, snap) -> dict[int, tuple[int, GroupSearch, np.ndarray]]:
        """first position -> (end, GroupSearch, deleted group numbers) of each run of small
        segments, made the first time a generation is searched (the latest is kept)."""
        generation, plan = self._plan
        if generation != snap.generation or plan is None:
            plan = {}
            for first, end in runs(snap):
                segments = snap.segments[first:end]
                group = self._group(segments)
                plan[first] = (end, group, dead_docs(group.group, list(segments)))
            self._plan = (snap.generation, plan)
        return plan

    def _group(self, segments: tuple[LiveSegment, ...]) -> GroupSearch:
        names = tuple(s.name for s in segments)
        found = self._groups.get(names)
        if found is None:
            with self._lock:
                found = self._groups.get(names) or GroupSearch(SegmentGroup.of(list(segments)))
                self._groups[names] = found
        return found

    def _new(self, seg: LiveSegment) -> BatchSearch:
        return BatchSearch(seg.segment.index, self.block_shift)


def offsets(snap) -> np.ndarray:
    """Each segment's first global document number, plus the total at the end."""
    sizes = [s.segment.index.n_docs for s in snap.segments]
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])


def search_segments(
    snap, engines: SegmentEngines, queries, k: int, knobs: Knobs, threads: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(global doc numbers, dequantised scores, counts) of the top k live documents."""
    segments = snap.segments
    batch = engines.of(snap)
    if len(segments) == 1 and segments[0].mask is None:  # nothing to merge: a plain index
        docs, raw, counts = batch[0].run(queries, k, knobs, threads)
        return docs, raw * np.float32(segments[0].segment.index.scale), counts
    groups = engines.groups(snap) if grouped_knobs(knobs) else {}
    if groups.get(0, (None,))[0] == len(segments):  # one group: its heap merged them all
        _, group, dead = groups[0]
        return group.run(queries, k, knobs, dead, threads)
    starts, parts, pos = offsets(snap), [], 0
    while pos < len(segments):
        if pos in groups:
            end, group, dead = groups[pos]
            docs, scores, counts = group.run(queries, k, knobs, dead, threads)
            pos_next = end
        else:
            seg, pos_next = segments[pos], pos + 1
            docs, raw, counts = batch[pos].run(queries, k, knobs, threads, dead=seg.deleted)
            scores = raw * np.float32(seg.segment.index.scale)
        live = np.arange(docs.shape[1]) < counts[:, None]
        parts.append((docs + starts[pos], scores, live))
        pos = pos_next
    return merge(parts, queries.shape[0], k)


def merge(parts, n_queries: int, k: int):
    """Per query, the best k of every part's live hits: score descending, then global
    number."""
    if not parts:
        empty = np.zeros((n_queries, 0))
        return empty.astype(np.int64), empty.astype(np.float32), np.zeros(n_queries, np.int64)
    docs, scores, live = (np.concatenate(p, axis=1) for p in zip(*parts, strict=True))
    return best_k_rows(docs, scores, live, k)
