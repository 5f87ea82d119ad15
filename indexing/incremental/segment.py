"""One segment: an immutable index folder (no IDF of its own) plus its deleted documents.

A segment is written once, by `InvertedIndex.save` into a staging folder, and never
modified: deletions live in a separate tombstone file, rewritten (under a new name) by
each commit that deletes from the segment. Each segment keeps its own quantisation
scale; `Searcher` dequantises scores per segment, so scores from segments with
different scales compare directly.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from spire.core.errors import SpireError
from spire.core.files import fsync_dir, fsync_file

from ..inverted_index import DOCIDS_FILE, InvertedIndex
from ..manifest import EncoderInfo, Manifest, postings_files
from ..validate import load_array
from .manifest import MANIFEST, STAGING_DIR, TOMBSTONES_DIR, FileRef, SegmentEntry

_staging_counter = itertools.count()


class Segment:
    """A loaded segment: the memory-mapped index and a lazily built id -> number map."""

    def __init__(self, name: str, index: InvertedIndex) -> None:
        self.name = name
        self.index = index
        self._ids: dict[str, int] | None = None

    @property
    def id_to_doc(self) -> dict[str, int]:
        # Built on first use (a delete or an explain), then shared by every snapshot
        # that holds this segment; two threads racing here build the same dict.
        if self._ids is None:
            self._ids = {docid: i for i, docid in enumerate(self.index.docids)}
        return self._ids


def staging_folder(root: Path) -> Path:
    """A fresh folder name under staging/, tagged with our pid so a sweep can tell
    whether its writer is still alive."""
    (root / STAGING_DIR).mkdir(exist_ok=True)
    return root / STAGING_DIR / f"{os.getpid()}-{next(_staging_counter)}-seg"


def write_segment(
    root: Path,
    ids: list[str],
    matrix: sp.csr_matrix,
    encoder: EncoderInfo,
    impact_dtype: str,
) -> tuple[Path, InvertedIndex]:
    """Quantise documents into a new segment folder under staging/ (fsynced, not yet named)."""
    # Ids are checked where they enter (WriteBatch.add); a merge keeps the stored ones.
    index = InvertedIndex.from_matrix(matrix, ids, encoder, impact_dtype, check=False)
    folder = staging_folder(root)
    index.save(folder)  # staging + fsync + rename, so the folder is whole once it exists
    return folder, index


def entry_for(name: str, folder: Path, index: InvertedIndex) -> SegmentEntry:
    """The manifest entry of a written segment; the files' digests come from its own
    manifest.json, which save() just computed."""
    own = Manifest.read(folder)
    files = dict(own.files)
    meta = FileRef.of(folder, MANIFEST)
    files[MANIFEST] = {"bytes": meta.bytes, "sha256": meta.sha256}
    return SegmentEntry(
        name=name,
        n_docs=index.n_docs,
        n_postings=index.n_postings,
        scale=float(index.scale),
        files=files,
    )


def load_segment(root: Path, entry: SegmentEntry, idf: np.ndarray | None, verify: bool) -> Segment:
    """Open a segment after checking every file against the root manifest's digests."""
    folder = root / entry.folder
    if not folder.is_dir():
        raise SpireError(f"{folder}: missing segment folder")
    for rel, meta in entry.files.items():
        FileRef(rel, meta.get("bytes", -1), meta.get("sha256", "")).check(folder, verify)
    own = Manifest.read(folder)
    needed = [*postings_files(own.compression).values(), DOCIDS_FILE]
    missing = [rel for rel in needed if rel not in entry.files]
    if missing:
        raise SpireError(f"{folder}: segment manifest does not list {missing[0]}")
    # idf: the index-wide table; segments keep none of their own.
    own = dataclasses.replace(own, files=entry.files)
    index = InvertedIndex.open_checked(folder, own, idf, mmap=True, verify=verify)
    return Segment(entry.name, index)


def write_tombstones(root: Path, segment: str, generation: int, docs: np.ndarray) -> FileRef:
    """Write a segment's full (cumulative) deleted set under a name no other commit uses."""
    (root / TOMBSTONES_DIR).mkdir(exist_ok=True)
    rel = f"{TOMBSTONES_DIR}/{segment}.g{generation:08d}.npy"
    path = root / rel
    np.save(path, np.ascontiguousarray(docs, dtype=np.int32), allow_pickle=False)
    fsync_file(path)
    fsync_dir(path.parent)
    return FileRef.of(root, rel)


def load_tombstones(root: Path, ref: FileRef, n_docs: int, verify: bool) -> np.ndarray:
    path = ref.check(root, verify)
    docs = load_array(path, mmap=False)
    if docs.ndim != 1 or docs.dtype != np.int32:
        raise SpireError(f"{path}: expected a 1-d int32 array of document numbers")
    if docs.size and (docs.min() < 0 or docs.max() >= n_docs):
        raise SpireError(f"{path}: document numbers out of range")
    return docs


def install_segment(staged: Path, root: Path, entry: SegmentEntry) -> None:
    """Give a staged segment its final name; the manifest commit then makes it visible."""
    target = root / entry.folder
    target.parent.mkdir(exist_ok=True)
    if target.exists():  # left by a writer that died before committing it
        shutil.rmtree(target)
    os.replace(staged, target)
    fsync_dir(target.parent)
    fsync_dir(staged.parent)
