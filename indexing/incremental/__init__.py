"""Incremental indexing: segments, tombstones, atomic manifest commits and merges.

A segmented index folder::

    manifest.json            the commit point: segments, tombstones, IDF, checksums
    segments/seg-XXXXXXXX/   immutable index folders (InvertedIndex.save layout, no IDF)
    tombstones/*.npy         deleted internal numbers of one segment, one file per commit
    idf/idf.gXXXXXXXX.npy    inference-free query IDF, fixed until an explicit re-IDF
    staging/                 segments being written (garbage if their writer died)

See docs/serving.md for the design and its guarantees.
"""

from spire.core.lazy import lazy_exports

# Lazy, so a reader (retrieval's open_index imports reader.py) loads no writer modules.
_HOMES = {
    "BackgroundMerger": ".merge",
    "CommitResult": ".store",
    "GroupCommitter": ".committer",
    "LiveSegment": ".snapshot",
    "MergePolicy": ".merge",
    "OpResult": ".batch",
    "SegmentEntry": ".manifest",
    "SegmentReader": ".reader",
    "SegmentStore": ".store",
    "SegmentsManifest": ".manifest",
    "Snapshot": ".snapshot",
    "WriteBatch": ".batch",
    "as_index": ".merge",
    "maybe_merge": ".merge",
}
__all__ = sorted(_HOMES)

__getattr__ = lazy_exports(__name__, _HOMES)
