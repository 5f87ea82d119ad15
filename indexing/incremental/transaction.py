"""Transaction: the changes one commit makes, staged against the latest snapshot.

Obtained from `SegmentStore.transaction()` under the write lock. It collects new
segments, deletions and removals; `finish()` writes the tombstone files and returns the
next manifest, which the store then commits by renaming it over manifest.json.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from spire.core.files import fsync_dir, fsync_file

from ..inverted_index import InvertedIndex
from .convert import segment_name
from .manifest import IDF_DIR, FileRef, SegmentEntry, SegmentsManifest
from .segment import Segment, entry_for, install_segment, write_tombstones
from .snapshot import Snapshot


class Transaction:
    def __init__(self, root: Path, snap: Snapshot) -> None:
        self.root = root
        self.snap = snap
        self.manifest: SegmentsManifest = copy.deepcopy(snap.manifest)
        self.manifest.generation = snap.generation + 1
        self.new_segments: dict[str, Segment] = {}
        self.deleted: dict[str, np.ndarray] = {}  # segment -> its complete deleted set
        self._additions: dict[str, set[int]] = {}
        self.idf: np.ndarray | None = snap.idf
        self.changed = False

    def add_segment(self, staged: Path, index: InvertedIndex, position: int | None = None) -> str:
        """Name a staged segment and move it into segments/ (invisible until commit)."""
        name = segment_name(self.manifest.next_segment)
        self.manifest.next_segment += 1
        entry = entry_for(name, staged, index)
        install_segment(staged, self.root, entry)
        index.idf = self.snap.idf
        self.new_segments[name] = Segment(name, index)
        segments = self.manifest.segments
        segments.insert(len(segments) if position is None else position, entry)
        self.changed = True
        return name

    def delete(self, segment: str, docs) -> None:
        self._additions.setdefault(segment, set()).update(int(d) for d in docs)
        self.changed = True

    def remove_segments(self, names: set[str]) -> int:
        """Drop segments (merged away); returns the position the first one held."""
        segments = self.manifest.segments
        first = next(i for i, s in enumerate(segments) if s.name in names)
        self.manifest.segments = [s for s in segments if s.name not in names]
        self.changed = True
        return first

    def set_idf(self, idf: np.ndarray) -> None:
        rel = f"{IDF_DIR}/idf.g{self.manifest.generation:08d}.npy"
        (self.root / IDF_DIR).mkdir(exist_ok=True)
        path = self.root / rel
        np.save(path, np.asarray(idf, dtype=np.float32), allow_pickle=False)
        fsync_file(path)
        fsync_dir(path.parent)
        self.manifest.idf = FileRef.of(self.root, rel)
        self.idf = np.asarray(idf, dtype=np.float32)
        self.changed = True

    def finish(self) -> SegmentsManifest:
        """Write the tombstone files and drop segments with no live document left."""
        old = {s.name: s for s in self.snap.segments}
        keep: list[SegmentEntry] = []
        for entry in self.manifest.segments:
            extra = self._additions.get(entry.name)
            if extra:
                before = old[entry.name].deleted if entry.name in old else np.zeros(0, np.int32)
                docs = np.union1d(before, np.fromiter(extra, dtype=np.int32)).astype(np.int32)
                if docs.size >= entry.n_docs:
                    continue  # nothing live: drop the segment instead of tombstoning it all
                entry.tombstones = write_tombstones(
                    self.root, entry.name, self.manifest.generation, docs
                )
                entry.n_deleted = int(docs.size)
                self.deleted[entry.name] = docs
            keep.append(entry)
        self.manifest.segments = keep
        return self.manifest
