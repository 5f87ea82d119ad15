"""Incremental indexing: segments, tombstones, atomic manifest commits and merges.

A segmented index folder::

    manifest.json            the commit point: segments, tombstones, IDF, checksums
    segments/seg-XXXXXXXX/   immutable index folders (InvertedIndex.save layout, no IDF)
    tombstones/*.npy         deleted internal numbers of one segment, one file per commit
    idf/idf.gXXXXXXXX.npy    inference-free query IDF, fixed until an explicit re-IDF
    staging/                 segments being written (garbage if their writer died)

See docs/serving.md for the design and its guarantees.
"""

from .batch import OpResult, WriteBatch
from .committer import GroupCommitter
from .manifest import SegmentEntry, SegmentsManifest
from .merge import BackgroundMerger, MergePolicy, as_index, maybe_merge
from .snapshot import LiveSegment, Snapshot
from .store import CommitResult, SegmentStore

__all__ = [
    "BackgroundMerger",
    "CommitResult",
    "GroupCommitter",
    "LiveSegment",
    "MergePolicy",
    "OpResult",
    "SegmentEntry",
    "SegmentStore",
    "SegmentsManifest",
    "Snapshot",
    "WriteBatch",
    "as_index",
    "maybe_merge",
]
