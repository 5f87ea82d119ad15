"""Searcher: encode queries, score them against 1..N segments, return the top k.

`Searcher(index)` searches an in-memory InvertedIndex; `open_index(path)` opens an index
folder, plain or segmented (incremental), and follows its commits. Both are one class
on one path: every segment is searched by the batched, compiled kernels (segments.py).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from indexing import InvertedIndex
from indexing.blocks import DEFAULT_SHIFT
from indexing.incremental.reader import SegmentReader
from spire.core.arguments import check_k, check_queries, check_query
from spire.core.errors import ArgumentError

from .batch import BatchSearch, Knobs
from .explain import Contribution, Hit, SegmentHit, contributions
from .segments import FixedIndex, SegmentEngines, offsets, search_segments

ALGORITHMS = ("taat", "blockmax")
__all__ = ["Hit", "SegmentHit", "Searcher", "open_index"]


class SnapshotSource(Protocol):
    """What a Searcher reads: `snapshot()` gives the segments of one generation."""

    def snapshot(self): ...


def open_index(
    source: str | Path | InvertedIndex | SnapshotSource,
    encoder=None,
    *,
    verify: bool = True,
    **options,
) -> Searcher:
    """The searcher of an index folder (plain or segmented; each search reads the latest
    commit), of an opened SegmentReader/SegmentStore, or of an in-memory index.
    `verify` checks file checksums when a segment is first loaded; `options` are
    Searcher's."""
    if isinstance(source, InvertedIndex):
        return Searcher(source, encoder, **options)
    if isinstance(source, (str, Path)):
        source = SegmentReader(source, verify=verify)
    return Searcher.over(source, encoder, **options)


class Searcher:
    """Top-k retrieval over an InvertedIndex; exact unless an approximate knob is set.

    Without an explicit encoder it re-creates the one the manifest names; an
    inference-free index then loads only the tokenizer and its stored IDF.

    Keyword options (all but block_shift can also be passed per call to `search_vectors`):
    - `n_threads`: queries of a batch are spread over this many threads (results are
      identical for any count);
    - `algorithm`: "taat" (default) scores every posting of every query term;
      "blockmax" scores only the document blocks whose upper bound can still reach the
      top k. Both are exact; block-max pays off when similar documents have nearby
      numbers (its bounds are loose on a corpus in random order, where "taat" wins);
    - `query_terms`: approximate, score with the m heaviest terms of each query (0: all);
    - `rescore`: with query_terms, two-phase search: the best `rescore` documents of the
      pruned query are rescored exactly with every term (0: no second phase);
    - `prune_postings`: approximate, the first phase reads only the N largest impacts of
      each term (static pruning, made once per N); with `rescore`, the candidates are
      then rescored exactly on the full postings, as Seismic does (0: all postings);
    - `block_factor`: approximate below 1, block-max skips a block when factor * its
      bound is below the current k-th score (1.0: exact);
    - `block_shift`: blocks hold 2**block_shift consecutive documents.
    Static pruning is a property of the index: see indexing/static_pruning.py.
    """

    def __init__(
        self,
        index: InvertedIndex,
        encoder=None,
        *,
        n_threads: int = 1,
        algorithm: str = "taat",
        query_terms: int = 0,
        rescore: int = 0,
        prune_postings: int = 0,
        block_factor: float = 1.0,
        block_shift: int = DEFAULT_SHIFT,
    ) -> None:
        if not isinstance(index, InvertedIndex):
            raise ArgumentError(
                f"index: must be an InvertedIndex (open a folder with "
                f"spire.open_index(path) or spire.InvertedIndex.load(path)), "
                f"not {type(index).__name__}"
            )
        self._setup(FixedIndex(index), encoder, n_threads, block_shift)
        self.knobs = _knobs(algorithm, query_terms, rescore, prune_postings, block_factor)

    @classmethod
    def over(cls, source: SnapshotSource, encoder=None, **options) -> Searcher:
        """A searcher of whatever `source.snapshot()` returns at each search."""
        threads, shift = options.pop("n_threads", 1), options.pop("block_shift", DEFAULT_SHIFT)
        searcher = cls.__new__(cls)
        searcher._setup(source, encoder, threads, shift)
        searcher.knobs = _knobs(**{**Knobs().__dict__, **options})
        return searcher

    def _setup(self, source: SnapshotSource, encoder, n_threads: int, block_shift: int) -> None:
        self.source = source
        self._fixed_encoder = encoder
        self._encoders: dict[object, object] = {}
        self._lock = threading.Lock()
        self.n_threads = int(n_threads)
        self.engines = SegmentEngines(block_shift)

    def snapshot(self):
        return self.source.snapshot()

    @property
    def index(self) -> InvertedIndex:
        """The index, where the latest snapshot is one segment."""
        return self._only(self.snapshot()).segment.index

    @property
    def engine(self) -> BatchSearch:
        """The batch engine, where the latest snapshot is one segment."""
        snap = self.snapshot()
        self._only(snap)
        return self.engines.of(snap)[0]

    @staticmethod
    def _only(snap):
        if len(snap.segments) != 1:
            raise ValueError(f"the index has {len(snap.segments)} segments, not one")
        return snap.segments[0]

    # ------------------------------------------------------------------ encoders

    @property
    def encoder(self):
        """The query encoder of the latest snapshot."""
        return self.encoder_for(self.snapshot())

    def encoder_for(self, snap):
        """The query encoder for a snapshot: a re-IDF gives inference-free a new table.

        Without an explicit encoder it re-creates the one the manifest names; an
        inference-free index then loads only the tokenizer and its stored IDF."""
        if self._fixed_encoder is not None:
            return self._fixed_encoder
        enc = self._encoders.get(snap.idf_key)
        if enc is None:
            with self._lock:
                enc = self._encoders.get(snap.idf_key) or self._make_encoder(snap)
                self._encoders[snap.idf_key] = enc
        return enc

    def _make_encoder(self, snap):
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
        self, queries: Mapping[str, str] | Sequence[str], k: int = 10, show_progress: bool = False
    ) -> dict[str, list[Hit]]:
        """Search many queries; a sequence is keyed by position ("0", "1", ...)."""
        queries, k = check_queries(queries), check_k(k)
        if not queries:
            return {}
        snap = self.snapshot()
        vectors = self.encoder_for(snap).encode_queries(list(queries.values()))
        hits = self.search_vectors(vectors, k, show_progress, snap=snap)
        return dict(zip(queries.keys(), hits, strict=True))

    def search_vectors(
        self, queries: sp.csr_matrix, k: int = 10, show_progress: bool = False, **options
    ) -> list[list[Hit]]:
        """Top-k for each row of an (n, vocab) query matrix; empty rows give no hits.

        `options`: `snap` (a snapshot; the latest by default) and overrides of the
        searcher's n_threads, algorithm, query_terms, rescore, prune_postings and
        block_factor."""
        k = check_k(k)
        located = self.search_located(queries, k, show_progress=show_progress, **options)
        return [[Hit(h.docid, h.score) for h in row] for row in located]

    def search_located(
        self, queries: sp.csr_matrix, k: int = 10, snap=None, **options
    ) -> list[list[SegmentHit]]:
        """As search_vectors, each hit with its segment and internal number."""
        snap = snap if snap is not None else self.snapshot()
        docs, scores, counts = self.search_arrays(queries, k, snap=snap, **options)
        starts = offsets(snap)
        where = np.searchsorted(starts, docs, side="right") - 1
        local = docs - starts[where]
        ids = [s.segment.index.docids for s in snap.segments]
        return [
            [
                SegmentHit(ids[p][d], s, p, d)
                for p, d, s in zip(
                    where[i, :n].tolist(),
                    local[i, :n].tolist(),
                    scores[i, :n].tolist(),
                    strict=True,
                )  # fmt: skip
            ]
            for i, n in enumerate(counts.tolist())
        ]

    def search_arrays(
        self,
        queries: sp.csr_matrix,
        k: int = 10,
        show_progress: bool = False,
        *,
        snap=None,
        n_threads: int | None = None,
        chunk: int = 256,
        **knobs,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(doc numbers, dequantised scores, hit counts) as (n, k), (n, k), (n,) arrays:
        row i holds counts[i] hits, best first, then padding (-1, 0). Numbers run over
        the snapshot's segments in order (a plain index: its internal numbers)."""
        queries = sp.csr_matrix(queries, dtype=np.float32)
        snap = snap if snap is not None else self.snapshot()
        opts = self.knobs if not knobs else _knobs(**{**self.knobs.__dict__, **knobs})
        threads = self.n_threads if n_threads is None else int(n_threads)

        def run(rows: sp.csr_matrix):
            return search_segments(snap, self.engines, rows, k, opts, threads)

        if not show_progress:  # one call: no per-batch overhead for a single query
            return run(queries)
        n_q, step = queries.shape[0], chunk * max(threads, 1)
        parts = [run(queries[:0])]
        with tqdm(total=n_q, desc="searching", unit="query") as bar:
            for lo in range(0, n_q, step):
                parts.append(run(queries[lo : lo + step]))
                bar.update(min(step, n_q - lo))
        docs, scores, counts = (np.concatenate(p) for p in zip(*parts, strict=True))
        return docs, scores, counts

    def explain(
        self, snap, terms: np.ndarray, weights: np.ndarray, hit: SegmentHit
    ) -> list[Contribution]:
        """Each matched query term's weight, the document's weight and their product,
        largest contribution first; they sum to the hit's score (up to float rounding)."""
        tokenizer = getattr(self.encoder_for(snap), "tokenizer", None)
        return contributions(snap, terms, weights, hit, tokenizer)


def _knobs(
    algorithm: str, query_terms: int, rescore: int, prune_postings: int, block_factor: float
) -> Knobs:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    if not 0 < block_factor <= 1:
        raise ValueError(f"block_factor must be in (0, 1], got {block_factor}")
    if query_terms < 0:
        raise ValueError(f"query_terms must be >= 0 (0 keeps all), got {query_terms}")
    if rescore < 0:
        raise ValueError(f"rescore must be >= 0 (0: one phase), got {rescore}")
    if prune_postings < 0:
        raise ValueError(f"prune_postings must be >= 0 (0 keeps all), got {prune_postings}")
    if prune_postings and algorithm != "taat":
        raise ValueError("prune_postings works with the taat algorithm")
    return Knobs(
        algorithm, int(query_terms), int(rescore), int(prune_postings), float(block_factor)
    )
