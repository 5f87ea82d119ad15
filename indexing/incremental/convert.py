"""Turn a plain index folder (written by `InvertedIndex.save`) into a segmented one, in place.

The plain index becomes the base segment. Its files are hard-linked (copied where the
file system refuses links) into `segments/seg-00000000/`, so conversion costs no
re-encoding and almost no disk. Until the new manifest.json is renamed over the old one,
the folder is still the untouched plain index; a crash before that leaves only garbage.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from spire.core.files import fsync_dir

from ..inverted_index import IDF_FILE, InvertedIndex
from ..manifest import Manifest
from .gc import PLAIN_LEFTOVERS, remove_all
from .manifest import IDF_DIR, MANIFEST, FileRef, SegmentEntry, SegmentsManifest, write_manifest
from .segment import install_segment, staging_folder

BASE_NAME = "seg-00000000"


def segment_name(number: int) -> str:
    return f"seg-{number:08d}"


def link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def base_entry(root: Path, own: Manifest, index: InvertedIndex) -> SegmentEntry:
    meta = FileRef.of(root, MANIFEST)
    return SegmentEntry(
        name=BASE_NAME,
        n_docs=index.n_docs,
        n_postings=index.n_postings,
        scale=float(index.scale),
        files={**own.files, MANIFEST: {"bytes": meta.bytes, "sha256": meta.sha256}},
    )


def plain_manifest(root: Path, own: Manifest, index: InvertedIndex) -> SegmentsManifest:
    """The segmented view of a plain index (generation 0; also used before converting)."""
    idf = None
    if index.idf is not None:
        idf = FileRef(f"{IDF_DIR}/idf.g{0:08d}.npy", *_ref_of(root / IDF_FILE))
    return SegmentsManifest(
        encoder=own.encoder,
        vocab_size=own.vocab_size,
        impact_dtype=own.impact_dtype,
        generation=0,
        next_segment=1,
        segments=[base_entry(root, own, index)],
        idf=idf,
        created_with=own.created_with,
    )


def _ref_of(path: Path) -> tuple[int, str]:
    ref = FileRef.of(path.parent, path.name)
    return ref.bytes, ref.sha256


def convert(root: Path) -> SegmentsManifest:
    """Convert under the write lock; returns the committed manifest (generation 1)."""
    index = InvertedIndex.load(root, verify=True)  # refuse to build on a corrupt base
    own = Manifest.read(root)
    manifest = plain_manifest(root, own, index)
    staged = staging_folder(root)
    try:
        for rel in [*own.files, MANIFEST]:
            link_or_copy(root / rel, staged / rel)
        for folder in sorted({p.parent for p in staged.rglob("*")}, reverse=True):
            fsync_dir(folder)
        install_segment(staged, root, manifest.segments[0])
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    if manifest.idf is not None:
        tmp = root / IDF_DIR / f".{os.getpid()}-idf.tmp"
        link_or_copy(root / IDF_FILE, tmp)
        os.replace(tmp, root / manifest.idf.file)
        fsync_dir(root / IDF_DIR)
    manifest.generation = 1
    write_manifest(root, manifest)
    remove_all(root, PLAIN_LEFTOVERS)  # now garbage: the base segment holds them
    return manifest
