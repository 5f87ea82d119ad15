"""Merging: compact segments and drop deleted documents, without blocking readers or writers.

A merge reads a snapshot, writes the merged segment outside the write lock, then takes
the lock only to commit. Documents deleted in the meantime are carried over as
tombstones on the merged segment; if a source segment disappeared (another merge won),
the result is discarded. Scores change only by re-quantisation: the merged segment gets
one scale for its documents (exact with float32 impacts).
"""

from __future__ import annotations

import logging
import math
import shutil
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from spire.core.files import file_lock

from ..inverted_index import InvertedIndex
from .batch import CommitResult
from .manifest import MERGE_LOCK_FILE
from .segment import write_segment
from .snapshot import LiveSegment, Snapshot

if TYPE_CHECKING:
    from .store import SegmentStore

log = logging.getLogger("spire.merge")


@dataclass(frozen=True)
class MergePolicy:
    """When the background merger compacts.

    Segments under `small_docs` live documents merge together as soon as there are two,
    so a stream of small adds keeps about one small segment. Larger ones merge `fanout`
    at a time within a size tier (a log-structured merge: each document is rewritten
    about log_fanout(N) times). A segment whose deleted share exceeds
    `max_deleted_fraction` is rewritten to drop them, since each deleted document costs
    every query a wider top-k.
    """

    small_docs: int = 1000
    fanout: int = 8
    max_deleted_fraction: float = 0.25

    def tier(self, seg: LiveSegment) -> int:
        if seg.n_live < self.small_docs:
            return -1
        return int(math.log(seg.n_live / self.small_docs, self.fanout))

    def plan(self, snap: Snapshot) -> list[str] | None:
        """The names of the next group to merge, or None when nothing needs it."""
        small = [s.name for s in snap.segments if self.tier(s) < 0]
        if len(small) >= 2:
            return small
        tiers: dict[int, list[str]] = {}
        for seg in snap.segments:
            if self.tier(seg) >= 0:
                tiers.setdefault(self.tier(seg), []).append(seg.name)
        for names in tiers.values():
            if len(names) >= self.fanout:
                return names[: self.fanout]
        for seg in snap.segments:
            if seg.n_deleted > self.max_deleted_fraction * seg.segment.index.n_docs:
                return [seg.name]
        return None


def gather(sources: list[LiveSegment]) -> tuple[list[str], sp.csr_matrix, dict[str, np.ndarray]]:
    """Live documents of `sources`, in order, plus old -> new numbers (-1: dropped)."""
    ids: list[str] = []
    parts = []
    maps = {}
    for seg in sources:
        live = seg.live_docs()
        mapping = np.full(seg.segment.index.n_docs, -1, dtype=np.int64)
        mapping[live] = len(ids) + np.arange(live.size)
        maps[seg.name] = mapping
        docids = seg.segment.index.docids
        ids.extend(docids[i] for i in live.tolist())
        parts.append(seg.segment.index.to_matrix()[live])
    return ids, sp.vstack(parts, format="csr"), maps


def as_index(snap: Snapshot) -> InvertedIndex:
    """All live documents of a snapshot as one plain in-memory index (for exports and
    tools that read `InvertedIndex`); re-quantised like a merge."""
    info = snap.encoder
    if not snap.segments:
        empty = sp.csr_matrix((0, snap.vocab_size), dtype=np.float32)
        return InvertedIndex.from_matrix(empty, [], info, snap.manifest.impact_dtype, snap.idf)
    ids, matrix, _ = gather(list(snap.segments))
    return InvertedIndex.from_matrix(
        matrix, ids, info, snap.manifest.impact_dtype, idf=snap.idf, check=False
    )  # ids already stored: never refused on reading


def merge_segments(store: SegmentStore, names: list[str] | None = None) -> CommitResult:
    """Merge segments of the current snapshot (all when `names` is None) into one."""
    snap = store.snapshot()
    wanted = set(names) if names is not None else {s.name for s in snap.segments}
    sources = [s for s in snap.segments if s.name in wanted]
    if not sources or (len(sources) == 1 and sources[0].n_deleted == 0):
        return CommitResult(snap.generation, False)
    ids, matrix, maps = gather(sources)
    staged = index = None
    if ids:
        staged, index = write_segment(
            store.root, ids, matrix, snap.encoder, snap.manifest.impact_dtype
        )
    try:
        with store.transaction() as txn:
            current = {s.name: s for s in txn.snap.segments}
            if any(s.name not in current for s in sources):
                return CommitResult(txn.snap.generation, False)  # another merge took them
            position = txn.remove_segments({s.name for s in sources})
            if staged is None:
                return CommitResult(txn.manifest.generation, True)
            name = txn.add_segment(staged, index, position)
            for seg in sources:  # deletes committed while we were merging
                late = np.setdiff1d(current[seg.name].deleted, seg.deleted)
                if late.size:
                    txn.delete(name, maps[seg.name][late])
    finally:
        if staged is not None and staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    return CommitResult(txn.manifest.generation, True, segment=name)


def maybe_merge(store: SegmentStore, policy: MergePolicy) -> int:
    """Run the policy's merges until it is satisfied; returns how many were committed.

    A non-blocking flock keeps two processes serving one folder from merging the same
    segments at once (the loser's work would be discarded anyway)."""
    done = 0
    with file_lock(store.root / MERGE_LOCK_FILE, blocking=False) as mine:
        if not mine:
            return 0
        while (group := policy.plan(store.snapshot())) is not None:
            if not merge_segments(store, group).committed:
                break
            done += 1
    return done


class BackgroundMerger:
    """A daemon thread that runs `maybe_merge` after commits (and every `interval`)."""

    def __init__(
        self, store: SegmentStore, policy: MergePolicy | None = None, interval: float = 5.0
    ) -> None:
        self.store = store
        self.policy = policy or MergePolicy()
        self.interval = interval
        self.merges = 0
        self.errors = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spire-merge", daemon=True)

    def start(self) -> BackgroundMerger:
        self._thread.start()
        return self

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.merges += maybe_merge(self.store, self.policy)
            except Exception:  # keep serving; the next commit retries the merge
                self.errors += 1
                log.exception("background merge failed")
