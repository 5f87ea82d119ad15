"""SegmentReader: the read side of an index folder, plain or segmented.

`snapshot()` returns the latest committed generation. It re-reads manifest.json (a few
KB) on each call and reloads only when the bytes changed, so a commit by any process
becomes visible to the next call; it never waits for a writer. A plain index folder is
read as one segment. Searching needs only this class; `SegmentStore` (store.py) adds the
writes on top of it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from spire.core.errors import SpireError

from ..inverted_index import InvertedIndex
from ..manifest import Manifest
from ..validate import load_array
from .convert import BASE_NAME, plain_manifest
from .manifest import MANIFEST, FileRef, SegmentsManifest, kind_of
from .segment import Segment, load_segment, load_tombstones
from .snapshot import LiveSegment, Snapshot

NO_DOCS = np.zeros(0, dtype=np.int32)


class SegmentReader:
    def __init__(self, root: str | Path, *, verify: bool = True) -> None:
        """Open an index folder (plain or segmented); `verify` checks every file's sha256
        when a segment is first loaded (sizes are always checked)."""
        self.root = Path(root)
        self.verify = verify
        self._snapshot: Snapshot | None = None
        self._refresh_lock = threading.Lock()
        self.snapshot()

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
