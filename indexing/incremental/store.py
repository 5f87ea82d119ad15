"""SegmentStore: a segmented index folder that takes adds, deletes and merges while serving.

- Reads: `snapshot()` (SegmentReader, reader.py) returns the latest committed generation;
  it never waits for a writer.
- Writes: `apply(batch)` builds the new segment outside the lock, then, holding an
  in-process lock and an flock on `.lock` (so writers in other processes queue too),
  re-reads the latest generation, writes tombstones, moves the segment into place and
  commits by renaming the new manifest over the old one. It returns only after the
  commit, so a caller may acknowledge the write once it returns.
- A plain index folder is served as one segment and converted in place on first write.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from spire.core.errors import SpireError
from spire.core.files import file_lock, fsync_dir, fsync_file

from ..manifest import EncoderInfo
from .batch import CommitResult, WriteBatch
from .convert import convert
from .gc import remove_all, sweep
from .manifest import (
    IDF_DIR,
    LOCK_FILE,
    FileRef,
    SegmentsManifest,
    manifest_kind,
    write_manifest,
)
from .reader import NO_DOCS, SegmentReader
from .segment import write_segment
from .snapshot import LiveSegment, Snapshot
from .transaction import Transaction


class SegmentStore(SegmentReader):
    """An index folder that takes writes; reading is SegmentReader's."""

    def __init__(self, root: str | Path, *, verify: bool = True) -> None:
        self._write_lock = threading.RLock()
        self._swept = False
        super().__init__(root, verify=verify)

    @classmethod
    def create(
        cls,
        root: str | Path,
        encoder: EncoderInfo,
        vocab_size: int,
        impact_dtype: str = "uint8",
        idf: np.ndarray | None = None,
    ) -> SegmentStore:
        """A new, empty segmented index (an inference-free one needs its IDF table)."""
        root = Path(root)
        if root.exists() and any(root.iterdir()):
            raise SpireError(f"{root} already exists and is not empty")
        if encoder.static_queries and idf is None:
            raise SpireError("an inference-free index needs an IDF table")
        (root / IDF_DIR).mkdir(parents=True, exist_ok=True)
        ref = None
        if idf is not None:
            rel = f"{IDF_DIR}/idf.g00000000.npy"
            np.save(root / rel, np.asarray(idf, np.float32), allow_pickle=False)
            fsync_file(root / rel)
            fsync_dir(root / IDF_DIR)
            ref = FileRef.of(root, rel)
        write_manifest(root, SegmentsManifest(encoder, vocab_size, impact_dtype, idf=ref))
        return cls(root)

    # ------------------------------------------------------------------ writing

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """The write lock plus a Transaction on the latest generation; commits on exit."""
        with self._write_lock, file_lock(self.root / LOCK_FILE):
            txn = Transaction(self.root, self._fresh())
            try:
                yield txn
            except BaseException:
                remove_all(self.root, [f"segments/{name}" for name in txn.new_segments])
                raise
            if txn.changed:
                self._commit(txn)

    def _fresh(self) -> Snapshot:
        kind, _ = manifest_kind(self.root)
        if kind == "plain":
            convert(self.root)
        snap = self.snapshot()
        if not self._swept:  # leftovers of writers that died, once per store
            sweep(self.root, snap.manifest.referenced())
            self._swept = True
        return snap

    def _commit(self, txn: Transaction) -> None:
        manifest = txn.finish()
        raw = write_manifest(self.root, manifest)
        old = {s.name: s for s in txn.snap.segments}
        segments = []
        for entry in manifest.segments:
            if entry.name in txn.new_segments:
                seg, deleted = txn.new_segments[entry.name], NO_DOCS
            else:
                seg, deleted = old[entry.name].segment, old[entry.name].deleted
            segments.append(LiveSegment.of(seg, entry, txn.deleted.get(entry.name, deleted)))
        with self._refresh_lock:
            self._install(Snapshot(manifest, raw, tuple(segments), txn.idf))
        remove_all(self.root, txn.snap.manifest.referenced() - manifest.referenced())

    def apply(self, batch: WriteBatch) -> CommitResult:
        """Commit a batch of adds and deletes atomically; returns after the commit."""
        snap = self.snapshot()
        ids, matrix = batch.new_documents(snap.vocab_size)
        staged = index = None
        if ids:  # the slow part (quantise, write, fsync) runs before taking the lock
            staged, index = write_segment(
                self.root, ids, matrix, snap.encoder, snap.manifest.impact_dtype
            )
        try:
            with self.transaction() as txn:
                results, doomed = batch.resolve(txn.snap.contains)
                for docid in doomed:
                    pos, doc = txn.snap.locate(docid)
                    txn.delete(txn.snap.segments[pos].name, [doc])
                name = txn.add_segment(staged, index) if staged is not None else None
        finally:
            if staged is not None and staged.exists():
                shutil.rmtree(staged, ignore_errors=True)
        generation = txn.manifest.generation if txn.changed else txn.snap.generation
        return CommitResult(generation, txn.changed, results, name)

    def add(self, ids: list[str], matrix: sp.csr_matrix) -> CommitResult:
        """Add or replace documents from their (n, vocab) vectors."""
        return self.apply(WriteBatch().add(ids, matrix))

    def delete(self, ids: list[str]) -> CommitResult:
        return self.apply(WriteBatch().delete(ids))

    def set_idf(self, idf: np.ndarray) -> CommitResult:
        """Replace the query-side IDF table (the explicit re-IDF); documents are unchanged."""
        snap = self.snapshot()
        if not snap.encoder.static_queries:
            raise SpireError("only an inference-free index has an IDF table")
        if len(idf) != snap.vocab_size:
            raise SpireError(f"IDF has {len(idf)} entries; the vocabulary has {snap.vocab_size}")
        with self.transaction() as txn:
            txn.set_idf(idf)
        return CommitResult(txn.manifest.generation, True)

    def merge(self, names: list[str] | None = None) -> CommitResult:
        """Merge the named segments (all by default) into one, dropping deleted documents."""
        from .merge import merge_segments

        return merge_segments(self, names)
