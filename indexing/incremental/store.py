"""SegmentStore: a segmented index folder that takes adds, deletes and merges while serving.

- Reads: `snapshot()` returns the latest committed generation. It re-reads manifest.json
  (a few KB) on each call and reloads only when the bytes changed, so a commit by any
  process becomes visible to the next call; it never waits for a writer.
- Writes: `apply(batch)` builds the new segment outside the lock, then, holding an
  in-process lock and an flock on `.lock` (so writers in other processes queue too),
  re-reads the latest generation, writes tombstones, moves the segment into place and
  commits by renaming the new manifest over the old one. It returns only after the
  commit, so a caller may acknowledge the write once it returns.
- A plain index folder is served as one segment and converted in place on first write.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from spire.errors import SpireError

from ..atomic import fsync_dir, fsync_file
from ..inverted_index import InvertedIndex
from ..manifest import EncoderInfo, Manifest
from ..validate import load_array
from .batch import OpResult, WriteBatch
from .convert import BASE_NAME, convert, plain_manifest
from .gc import remove_all, sweep
from .manifest import (
    IDF_DIR,
    LOCK_FILE,
    MANIFEST,
    FileRef,
    SegmentsManifest,
    kind_of,
    manifest_kind,
    write_manifest,
)
from .segment import Segment, load_segment, load_tombstones, write_segment
from .snapshot import LiveSegment, Snapshot
from .transaction import Transaction

NO_DOCS = np.zeros(0, dtype=np.int32)


@dataclass
class CommitResult:
    generation: int
    committed: bool
    results: list[OpResult] = field(default_factory=list)
    segment: str | None = None


@contextmanager
def file_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """An exclusive flock; the kernel drops it when its holder dies, even by SIGKILL."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


class SegmentStore:
    def __init__(self, root: str | Path, *, verify: bool = True) -> None:
        """Open an index folder (plain or segmented); `verify` checks every file's sha256
        when a segment is first loaded (sizes are always checked)."""
        self.root = Path(root)
        self.verify = verify
        self._snapshot: Snapshot | None = None
        self._refresh_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._swept = False
        self.snapshot()

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
        if encoder.mode == "inference-free" and idf is None:
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

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> Snapshot:
        raw = self._read_raw()
        current = self._snapshot
        if current is not None and raw == current.raw:
            return current
        with self._refresh_lock:
            current = self._snapshot
            if current is not None and raw == current.raw:
                return current
            return self._install(self._load(raw))

    def _read_raw(self) -> bytes:
        try:
            return (self.root / MANIFEST).read_bytes()
        except FileNotFoundError:
            raise SpireError(f"{self.root / MANIFEST}: missing; not a spire index") from None

    def _load(self, raw: bytes) -> Snapshot:
        # A writer (a merge in this process or another) may delete files of the generation
        # we are reading, after it committed the next one: then read the newer manifest and
        # try again. The file may vanish between checks (is_file, then stat or open), so
        # FileNotFoundError counts too; if the manifest has not changed, it is re-raised.
        for _ in range(10):
            try:
                return self._build(raw)
            except (SpireError, FileNotFoundError):
                fresh = self._read_raw()
                if fresh == raw:
                    raise
                raw = fresh
        return self._build(raw)

    def _build(self, raw: bytes) -> Snapshot:
        if kind_of(raw, self.root / MANIFEST) == "plain":
            index = InvertedIndex.load(self.root, verify=self.verify)
            manifest = plain_manifest(self.root, Manifest.read(self.root), index)
            live = LiveSegment.of(Segment(BASE_NAME, index), manifest.segments[0], NO_DOCS)
            return Snapshot(manifest, raw, (live,), index.idf)
        manifest = SegmentsManifest.parse(raw, self.root / MANIFEST)
        current = self._snapshot
        cached = {s.name: s for s in current.segments} if current else {}
        idf = None
        if manifest.idf is not None:
            same = current is not None and current.manifest.idf == manifest.idf
            idf = current.idf if same else self._load_idf(manifest.idf, manifest.vocab_size)
        segments = []
        for entry in manifest.segments:
            old = cached.get(entry.name)
            seg = old.segment if old else load_segment(self.root, entry, idf, self.verify)
            deleted = NO_DOCS
            if entry.tombstones is not None:
                if old is not None and old.entry.tombstones == entry.tombstones:
                    deleted = old.deleted
                else:
                    deleted = load_tombstones(
                        self.root, entry.tombstones, seg.index.n_docs, self.verify
                    )
            segments.append(LiveSegment.of(seg, entry, deleted))
        return Snapshot(manifest, raw, tuple(segments), idf)

    def _load_idf(self, ref: FileRef, vocab_size: int) -> np.ndarray:
        path = ref.check(self.root, self.verify)
        idf = load_array(path, mmap=False)
        if idf.shape != (vocab_size,):
            raise SpireError(f"{path}: IDF has shape {idf.shape}, the vocabulary is {vocab_size}")
        return idf

    def _install(self, snap: Snapshot) -> Snapshot:
        # Generations only grow: a refresh that read an older manifest than the one a
        # concurrent commit installed must not roll the view back.
        current = self._snapshot
        if current is None or snap.generation >= current.generation:
            self._snapshot = snap
        return self._snapshot

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
        if snap.encoder.mode != "inference-free":
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
