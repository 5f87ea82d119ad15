"""Searcher: encode queries, score them against the index, return the top k."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from indexing import InvertedIndex
from indexing.blocks import DEFAULT_SHIFT
from spire.arguments import check_k, check_queries, check_query
from spire.errors import ArgumentError

from .batch import BatchSearch, Knobs

ALGORITHMS = ("taat", "blockmax")


@dataclass(frozen=True)
class Hit:
    docid: str
    score: float


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
                f"spire.InvertedIndex.load(path)), not {type(index).__name__}"
            )
        self.index = index
        self._encoder = encoder
        self.n_threads = int(n_threads)
        self.knobs = _knobs(algorithm, query_terms, rescore, prune_postings, block_factor)
        self.engine = BatchSearch(index, block_shift)

    @property
    def encoder(self):
        if self._encoder is None:
            from encoders import load_encoder

            info = self.index.encoder
            self._encoder = load_encoder(
                info.name, info.mode, idf=self.index.idf, **info.load_options()
            )
        return self._encoder

    def search(self, query: str, k: int = 10) -> list[Hit]:
        query, k = check_query(query), check_k(k)
        return self.search_vectors(self.encoder.encode_queries([query]), k)[0]

    def batch_search(
        self, queries: Mapping[str, str] | Sequence[str], k: int = 10, show_progress: bool = False
    ) -> dict[str, list[Hit]]:
        """Search many queries; a sequence is keyed by position ("0", "1", ...)."""
        queries, k = check_queries(queries), check_k(k)
        if not queries:
            return {}
        vectors = self.encoder.encode_queries(list(queries.values()))
        hits = self.search_vectors(vectors, k, show_progress)
        return dict(zip(queries.keys(), hits, strict=True))

    def search_vectors(
        self,
        queries: sp.csr_matrix,
        k: int = 10,
        show_progress: bool = False,
        **options,
    ) -> list[list[Hit]]:
        """Top-k for each row of an (n, vocab) query matrix; empty rows give no hits.

        `options` override the searcher's n_threads, algorithm, query_terms, rescore,
        prune_postings and block_factor.
        """
        queries, k = sp.csr_matrix(queries, dtype=np.float32), check_k(k)
        docs, scores, counts = self.search_arrays(queries, k, show_progress, **options)
        docids = self.index.docids
        return [
            [Hit(docids[d], float(s)) for d, s in zip(docs[i, :n], scores[i, :n], strict=True)]
            for i, n in enumerate(counts.tolist())
        ]

    def search_arrays(
        self,
        queries: sp.csr_matrix,
        k: int = 10,
        show_progress: bool = False,
        *,
        n_threads: int | None = None,
        chunk: int = 256,
        **knobs,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(internal doc numbers, dequantised scores, hit counts) as (n, k), (n, k), (n,)
        arrays: row i holds counts[i] hits, best first, then padding (-1, 0)."""
        queries = sp.csr_matrix(queries, dtype=np.float32)
        opts = self.knobs if not knobs else _knobs(**{**self.knobs.__dict__, **knobs})
        threads = self.n_threads if n_threads is None else int(n_threads)
        if not show_progress:  # one call: no per-batch overhead for a single query
            docs, raw, counts = self.engine.run(queries, k, opts, threads)
            return docs, raw * np.float32(self.index.scale), counts
        n_q, step = queries.shape[0], chunk * max(threads, 1)
        parts = [self.engine.run(queries[:0], k, opts, threads)]
        with tqdm(total=n_q, desc="searching", unit="query") as bar:
            for lo in range(0, n_q, step):
                parts.append(self.engine.run(queries[lo : lo + step], k, opts, threads))
                bar.update(min(step, n_q - lo))
        docs, raw, counts = (np.concatenate(p) for p in zip(*parts, strict=True))
        return docs, raw * np.float32(self.index.scale), counts

    def score_top_k(
        self, terms: np.ndarray, weights: np.ndarray, k: int, **options
    ) -> tuple[np.ndarray, np.ndarray]:
        """Internal doc numbers and dequantised scores of the top k for one query vector."""
        terms = np.asarray(terms, dtype=np.int64)
        width = int(terms.max()) + 1 if terms.size else 0
        row = sp.csr_matrix(
            (np.asarray(weights, dtype=np.float32), terms, [0, terms.size]),
            shape=(1, max(width, self.index.vocab_size)),
        )
        docs, scores, counts = self.search_arrays(row, k, **options)
        return docs[0, : counts[0]], scores[0, : counts[0]]


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
