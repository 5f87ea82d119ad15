"""SegmentedSearcher: exact top-k over every segment of one snapshot of a segmented index.

Each segment is searched by its own `Searcher` (so the kernels, block-max pruning and
per-segment dequantisation are the single-index ones). A segment with d deleted
documents is asked for its top k + d, which always contains its true top k live
documents; deleted ones are dropped and the per-segment lists are merged. Ties break by
segment order, then internal number, as in a single index.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from indexing.incremental import SegmentStore, Snapshot
from spire.arguments import check_k, check_queries, check_query

from .searcher import Hit, Searcher

if TYPE_CHECKING:
    from encoders import SparseEncoder


@dataclass(frozen=True)
class SegmentHit:
    """A hit plus where it lives in its snapshot (for explanations)."""

    docid: str
    score: float
    segment: int  # position in the snapshot's segments
    doc: int  # internal number inside that segment

    def hit(self) -> Hit:
        return Hit(self.docid, self.score)


@dataclass(frozen=True)
class Contribution:
    term: int
    token: str
    query_weight: float
    doc_weight: float  # dequantised impact

    @property
    def score(self) -> float:
        return self.query_weight * self.doc_weight


class _NoEncoder:
    """Segment searchers get query vectors, never text."""

    def __getattr__(self, name):
        raise AttributeError(f"segment searchers do not encode ({name})")


class SegmentedSearcher:
    def __init__(
        self,
        source: SegmentStore | str | Path,
        encoder: SparseEncoder | None = None,
        **searcher_options,
    ) -> None:
        """`source`: a store or an index folder (plain or segmented). Without an encoder,
        the manifest's one is loaded on first text query (for inference-free: only the
        tokenizer, with the index's current IDF table)."""
        self.store = source if isinstance(source, SegmentStore) else SegmentStore(source)
        self._fixed_encoder = encoder
        self._encoders: dict[object, object] = {}
        self._searchers: dict[str, Searcher] = {}
        self._generation = -1
        self._lock = threading.Lock()
        self.options = searcher_options

    def snapshot(self) -> Snapshot:
        return self.store.snapshot()

    # ------------------------------------------------------------------ encoders

    def encoder(self, snap: Snapshot | None = None) -> SparseEncoder:
        """The query encoder for a snapshot: a re-IDF gives inference-free a new table."""
        if self._fixed_encoder is not None:
            return self._fixed_encoder
        snap = snap or self.snapshot()
        key = snap.manifest.idf.sha256 if snap.manifest.idf is not None else None
        enc = self._encoders.get(key)
        if enc is None:
            with self._lock:
                enc = self._encoders.get(key) or self._make_encoder(snap)
                self._encoders[key] = enc
        return enc

    def _make_encoder(self, snap: Snapshot) -> SparseEncoder:
        if self._encoders:  # same model, other IDF: share the loaded tokenizer and model
            enc = copy.copy(next(iter(self._encoders.values())))
            enc.idf = snap.idf
            return enc
        from encoders import load_encoder

        info = snap.encoder
        return load_encoder(info.name, info.mode, idf=snap.idf, **info.load_options())

    # ------------------------------------------------------------------ search

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return self.batch_search([check_query(query)], k)["0"]

    def batch_search(
        self, queries: Mapping[str, str] | Sequence[str], k: int = 10
    ) -> dict[str, list[Hit]]:
        """Search many queries; a sequence is keyed by position ("0", "1", ...)."""
        queries, k = check_queries(queries), check_k(k)
        if not queries:
            return {}
        snap = self.snapshot()
        vectors = self.encoder(snap).encode_queries(list(queries.values()))
        hits = self.search_located(vectors, k, snap)
        return {key: [h.hit() for h in row] for key, row in zip(queries, hits, strict=True)}

    def search_vectors(self, queries: sp.csr_matrix, k: int = 10) -> list[list[Hit]]:
        return [[h.hit() for h in row] for row in self.search_located(queries, k)]

    def search_located(
        self, queries: sp.csr_matrix, k: int, snap: Snapshot | None = None
    ) -> list[list[SegmentHit]]:
        """Top k per query row over one snapshot (the latest when not given)."""
        snap = snap or self.snapshot()
        queries = sp.csr_matrix(queries, dtype=np.float32)
        searchers = self._segment_searchers(snap)
        out = []
        for row in range(queries.shape[0]):
            lo, hi = queries.indptr[row], queries.indptr[row + 1]
            terms, weights = queries.indices[lo:hi], queries.data[lo:hi]
            out.append(self._one(snap, searchers, terms, weights, k) if hi > lo else [])
        return out

    def _one(
        self, snap: Snapshot, searchers: list[Searcher], terms, weights, k: int
    ) -> list[SegmentHit]:
        docs, scores, where = [], [], []
        for pos, seg in enumerate(snap.segments):
            depth = min(k + seg.n_deleted, seg.segment.index.n_docs)
            if depth <= 0:
                continue
            d, s = searchers[pos].score_top_k(terms, weights, depth)
            if seg.mask is not None:
                keep = ~seg.mask[d]
                d, s = d[keep], s[keep]
            docs.append(d[:k])
            scores.append(s[:k])
            where.append(np.full(min(len(d), k), pos))
        if not docs:
            return []
        d, s, w = np.concatenate(docs), np.concatenate(scores), np.concatenate(where)
        order = np.lexsort((d, w, -s))[:k]
        return [
            SegmentHit(snap.segments[p].segment.index.docids[i], float(sc), int(p), int(i))
            for i, sc, p in zip(
                d[order].tolist(), s[order].tolist(), w[order].tolist(), strict=True
            )
        ]

    def _segment_searchers(self, snap: Snapshot) -> list[Searcher]:
        if snap.generation != self._generation:
            with self._lock:  # keep the searchers (and their block maxima) of kept segments
                old = self._searchers
                self._searchers = {s.name: old.get(s.name) or self._new(s) for s in snap.segments}
                self._generation = snap.generation
        cache = self._searchers
        return [cache.get(s.name) or self._new(s) for s in snap.segments]

    def _new(self, seg) -> Searcher:
        return Searcher(seg.segment.index, _NoEncoder(), **self.options)

    # ------------------------------------------------------------------ explain

    def explain(
        self, snap: Snapshot, terms: np.ndarray, weights: np.ndarray, hit: SegmentHit
    ) -> list[Contribution]:
        """Each matched query term's weight, the document's weight and their product,
        largest contribution first; they sum to the hit's score (up to float rounding)."""
        index = snap.segments[hit.segment].segment.index
        found = []
        for t, w in zip(np.asarray(terms).tolist(), np.asarray(weights).tolist(), strict=True):
            docs = index.term_doc_ids(t)  # decoded for this one term if packed
            j = int(np.searchsorted(docs, hit.doc))
            if j < docs.size and docs[j] == hit.doc:
                found.append((t, w, float(index.impacts[index.indptr[t] + j]) * index.scale))
        tokens = self._tokens(snap, [t for t, _, _ in found])
        out = [Contribution(t, tok, w, dw) for (t, w, dw), tok in zip(found, tokens, strict=True)]
        return sorted(out, key=lambda c: (-c.score, c.term))

    def _tokens(self, snap: Snapshot, ids: list[int]) -> list[str]:
        tokenizer = getattr(self.encoder(snap), "tokenizer", None)
        if tokenizer is None or not ids:
            return [str(i) for i in ids]
        return [str(t) for t in tokenizer.convert_ids_to_tokens(ids)]
