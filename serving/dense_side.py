"""The served index's dense side: a faiss DenseIndex tied to the segments it was built from.

A segmented index changes under the server (adds, replaces, deletes, merges, from any
process), while a dense index is a fixed set of vectors. Fusion must never score a
document with a vector of text the document no longer has, so the dense folder carries
`coverage.json`: the name and a fingerprint (the digest of every file it holds) of each
sparse segment it was built from. Segments are immutable and their names are never
reused, so a document that is live in one of those segments now is exactly the document
that was embedded. Those documents are *covered*; the dense side answers for them only.

- A delete: the document is no longer live anywhere, so it drops out of both sides.
- An add or a replace: the new copy lives in a new segment, so it is not covered (a
  replace also tombstones the old, covered copy): fusion sees its sparse score only.
- A merge: the merged documents move to a new segment and are not covered any more.
  So the server's background merger leaves covered segments alone (`PinnedMergePolicy`);
  an explicit `spire merge` still merges them, and the dense side then covers less.
- `spire index-dense` rebuilds the dense side from the current snapshot.

Coverage is computed per snapshot, so it is right whichever process wrote.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from indexing.dense_index import MANIFEST_FILE, DenseIndex
from indexing.incremental import MergePolicy, SegmentEntry, SegmentStore, Snapshot
from spire.core.artefacts import ensure_replaceable
from spire.core.errors import SpireError
from spire.core.files import write_text_atomic
from spire.core.hashing import sha256_file

COVERAGE_FILE = "coverage.json"
COVERAGE_FORMAT = "spire-dense-coverage"
COVERAGE_VERSION = 1


def fingerprint(entry: SegmentEntry) -> str:
    """A segment's content identity: the digest of its files' sizes and sha256s."""
    raw = json.dumps(entry.files, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()


def build_dense_side(
    index_dir: str | Path,
    ids: Sequence[str],
    texts: Sequence[str],
    out: str | Path,
    model: str = "all-MiniLM-L6-v2",
    *,
    overwrite: bool = False,
    show_progress: bool = False,
    encoder=None,
) -> dict:
    """Embed the live documents of `index_dir`'s current snapshot, taking their texts
    from (`ids`, `texts`), and write a dense folder that `spire serve --dense` accepts.

    The texts must be the ones the sparse index was built from; live documents the
    corpus lacks are not embedded (and so never covered). Returns a summary."""
    from encoders.dense import load_dense_encoder

    out = Path(out)
    ensure_replaceable(out, overwrite)
    snap = SegmentStore(index_dir).snapshot()
    text_of = dict(zip(ids, texts, strict=True))
    live = list(snap.live_ids())
    keep = [docid for docid in live if docid in text_of]
    if not keep:
        raise SpireError(f"none of the {len(live)} live documents of {index_dir} is in the corpus")
    encoder = encoder or load_dense_encoder(model)
    vectors = encoder.encode_documents([text_of[d] for d in keep], show_progress=show_progress)
    DenseIndex.build(keep, vectors, encoder=encoder.name).save(out, overwrite=overwrite)
    coverage = {
        "format": COVERAGE_FORMAT,
        "format_version": COVERAGE_VERSION,
        "index": str(Path(index_dir).resolve()),
        "generation": snap.generation,
        "dense_manifest_sha256": sha256_file(out / MANIFEST_FILE),
        "segments": {seg.name: fingerprint(seg.entry) for seg in snap.segments},
    }
    write_text_atomic(out / COVERAGE_FILE, json.dumps(coverage, indent=1, sort_keys=True))
    return {
        "dense_index": str(out),
        "encoder": encoder.name,
        "dim": int(vectors.shape[1]),
        "embedded": len(keep),
        "live_docs": len(live),
        "not_in_corpus": len(live) - len(keep),
        "generation": snap.generation,
        "segments": len(snap.segments),
    }


def read_coverage(folder: Path) -> dict[str, str]:
    """Segment name -> fingerprint, from a dense folder written by `build_dense_side`."""
    path = folder / COVERAGE_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpireError(
            f"{path}: missing; {folder} was not built for a served index "
            "(build it with `spire index-dense INDEX CORPUS --out DIR`)"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpireError(f"{path}: corrupt ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != COVERAGE_FORMAT:
        raise SpireError(f"{path}: not a spire dense coverage file")
    if raw.get("format_version") != COVERAGE_VERSION:
        raise SpireError(
            f"{path}: coverage format version {raw.get('format_version')!r} is not supported "
            f"(this spire reads {COVERAGE_VERSION})"
        )
    if raw.get("dense_manifest_sha256") != sha256_file(folder / MANIFEST_FILE):
        raise SpireError(f"{path}: written for another dense index than the one in {folder}")
    segments = raw.get("segments")
    if not isinstance(segments, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in segments.items()
    ):
        raise SpireError(f"{path}: malformed (segments must map names to fingerprints)")
    return segments


class DenseSide:
    """The dense index of a served folder, restricted per snapshot to covered documents."""

    def __init__(self, folder: str | Path, *, verify: bool = True, encoder=None) -> None:
        from retrieval.dense_searcher import DenseSearcher

        self.folder = Path(folder)
        self.index = DenseIndex.load(self.folder, verify=verify)
        self.coverage = read_coverage(self.folder)
        self.searcher = DenseSearcher(self.index, encoder)
        self._row_of = {docid: row for row, docid in enumerate(self.index.docids)}
        self._segment_rows: dict[str, np.ndarray] = {}
        self._cached: tuple[bytes, np.ndarray] | None = None
        self._lock = threading.Lock()

    @property
    def encoder(self):
        return self.searcher.encoder

    def covered_segments(self, snap: Snapshot) -> frozenset[str]:
        """Names of the snapshot's segments that this dense index was built from."""
        return frozenset(s.name for s in snap.segments if self._covers(s))

    def _covers(self, seg) -> bool:
        return self.coverage.get(seg.name) == fingerprint(seg.entry)

    def covered(self, snap: Snapshot) -> np.ndarray:
        """A bool per dense row: its document is live in a segment the index was built from."""
        cached = self._cached
        if cached is not None and cached[0] == snap.raw:
            return cached[1]
        mask = np.zeros(self.index.n_docs, dtype=bool)
        for seg in snap.segments:
            if not self._covers(seg):
                continue
            rows = self._rows(seg)[seg.live_docs()]
            mask[rows[rows >= 0]] = True
        self._cached = (snap.raw, mask)
        return mask

    def _rows(self, seg) -> np.ndarray:
        """Dense row of each internal document of a (covered, immutable) segment, or -1."""
        rows = self._segment_rows.get(seg.name)
        if rows is None:
            with self._lock:
                docids = seg.segment.index.docids
                rows = np.fromiter(
                    (self._row_of.get(d, -1) for d in docids), dtype=np.int64, count=len(docids)
                )
                self._segment_rows[seg.name] = rows
        return rows

    def search(self, texts: Sequence[str], depth: int, snap: Snapshot) -> list[dict[str, float]]:
        """The `depth` best covered documents per query, {docid: cosine}, best first.

        faiss is asked for depth + (uncovered rows), which always holds the depth best
        covered ones, so the restriction is exact (as Searcher does with deletes).
        """
        covered = self.covered(snap)
        n_covered = int(covered.sum())
        if n_covered == 0:
            return [{} for _ in texts]
        vectors = self.encoder.encode_queries(list(texts))
        fetch = min(depth + (self.index.n_docs - n_covered), self.index.n_docs)
        scores, rows = self.index.search(vectors, fetch)
        blank = ~np.any(vectors != 0, axis=1)  # a blank text embeds to zero: no hits
        docids = self.index.docids
        out = []
        for i in range(len(texts)):
            run: dict[str, float] = {}
            if not blank[i]:
                for row, score in zip(rows[i].tolist(), scores[i].tolist(), strict=True):
                    if row >= 0 and covered[row]:
                        run[docids[row]] = score
                        if len(run) == depth:
                            break
            out.append(run)
        return out

    def stats(self, snap: Snapshot) -> dict:
        return {
            "folder": str(self.folder),
            "encoder": self.index.encoder,
            "dim": self.index.dim,
            "vectors": self.index.n_docs,
            "covered": int(self.covered(snap).sum()),
        }


def fuse_one(
    sparse: dict[str, float],
    dense: dict[str, float],
    method: str,
    weights: tuple[float, float],
    k: int,
    options: dict,
) -> list[tuple[str, float]]:
    """One query's fused top k, best first: exactly `retrieval.fusion.fuse` over the two
    runs {"q": sparse} and {"q": dense}, so it equals fusing the same runs offline."""
    from retrieval.fusion import fuse

    fused = fuse([{"q": sparse}, {"q": dense}], method, list(weights), depth=k, **options)
    return list(fused.get("q", {}).items())


@dataclass(frozen=True)
class PinnedMergePolicy(MergePolicy):
    """The background policy, blind to `pinned` segments: merging one would move its
    documents out of the dense side's coverage. Its deleted documents stay until an
    explicit `spire merge` (each costs a query one more candidate in that segment)."""

    pinned: frozenset[str] = frozenset()

    def plan(self, snap: Snapshot) -> list[str] | None:
        rest = tuple(s for s in snap.segments if s.name not in self.pinned)
        return super().plan(replace(snap, segments=rest))
