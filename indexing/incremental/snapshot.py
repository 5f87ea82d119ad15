"""Snapshot: an immutable view of one committed generation of a segmented index.

A reader takes a snapshot and uses it for a whole request; a commit builds a new
snapshot and swaps a reference, so readers never wait for writers and never see half
a commit. Segments (memory-mapped, immutable) are shared between snapshots; only the
tombstones differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..manifest import EncoderInfo
from .manifest import SegmentEntry, SegmentsManifest
from .segment import Segment


@dataclass(frozen=True)
class LiveSegment:
    segment: Segment
    entry: SegmentEntry
    deleted: np.ndarray  # sorted int32 internal numbers of deleted documents
    mask: np.ndarray | None = field(default=None, repr=False)  # True = deleted

    @classmethod
    def of(cls, segment: Segment, entry: SegmentEntry, deleted: np.ndarray) -> LiveSegment:
        mask = None
        if deleted.size:
            mask = np.zeros(segment.index.n_docs, dtype=bool)
            mask[deleted] = True
        return cls(segment, entry, deleted, mask)

    @property
    def name(self) -> str:
        return self.segment.name

    @property
    def n_deleted(self) -> int:
        return int(self.deleted.size)

    @property
    def n_live(self) -> int:
        return self.segment.index.n_docs - self.n_deleted

    def is_live(self, doc: int) -> bool:
        return self.mask is None or not self.mask[doc]

    def live_docs(self) -> np.ndarray:
        """Internal numbers of the documents not deleted, ascending."""
        everything = np.arange(self.segment.index.n_docs)
        return everything if self.mask is None else everything[~self.mask]


@dataclass(frozen=True)
class Snapshot:
    manifest: SegmentsManifest
    raw: bytes  # the manifest.json bytes this snapshot was read from
    segments: tuple[LiveSegment, ...]
    idf: np.ndarray | None

    @property
    def generation(self) -> int:
        return self.manifest.generation

    @property
    def encoder(self) -> EncoderInfo:
        return self.manifest.encoder

    @property
    def vocab_size(self) -> int:
        return self.manifest.vocab_size

    @property
    def idf_key(self) -> str | None:
        """Names the query IDF table (its sha256): a re-IDF changes it."""
        return self.manifest.idf.sha256 if self.manifest.idf is not None else None

    @property
    def n_docs(self) -> int:
        """Live (searchable) documents."""
        return sum(s.n_live for s in self.segments)

    @property
    def n_deleted(self) -> int:
        return sum(s.n_deleted for s in self.segments)

    @property
    def n_postings(self) -> int:
        """Stored postings, those of deleted documents included until a merge drops them."""
        return sum(s.segment.index.n_postings for s in self.segments)

    def locate(self, docid: str) -> tuple[int, int] | None:
        """(segment position, internal number) of a live document, or None.

        Commits keep an id live in at most one segment, so the first match is the only one.
        """
        for pos in range(len(self.segments) - 1, -1, -1):  # recent segments first
            seg = self.segments[pos]
            doc = seg.segment.id_to_doc.get(docid)
            if doc is not None and seg.is_live(doc):
                return pos, doc
        return None

    def contains(self, docid: str) -> bool:
        return self.locate(docid) is not None

    def live_ids(self) -> Iterator[str]:
        for seg in self.segments:
            docids = seg.segment.index.docids
            for doc in seg.live_docs().tolist():
                yield docids[doc]

    def stats(self) -> dict:
        return {
            "generation": self.generation,
            "docs": self.n_docs,
            "deleted": self.n_deleted,
            "segments": len(self.segments),
            "postings": self.n_postings,
            "encoder": self.encoder.name,
            "mode": self.encoder.mode,
            "impact_dtype": self.manifest.impact_dtype,
            "segment_sizes": [s.n_live for s in self.segments],
        }
