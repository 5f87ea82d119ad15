"""Searcher: encode queries, score them against the index, return the top k."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from indexing import InvertedIndex

from .kernels import score_one, top_k


@dataclass(frozen=True)
class Hit:
    docid: str
    score: float


class Searcher:
    """Exact top-k retrieval over an InvertedIndex.

    Without an explicit encoder it re-creates the one the manifest names; an
    inference-free index then loads only the tokenizer and its stored IDF.
    """

    def __init__(self, index: InvertedIndex, encoder=None) -> None:
        self.index = index
        self._encoder = encoder

    @property
    def encoder(self):
        if self._encoder is None:
            from encoders import load_encoder

            info = self.index.encoder
            self._encoder = load_encoder(
                info.name,
                info.mode,
                idf=self.index.idf,
                query_max_length=info.query_max_length,
                doc_max_length=info.doc_max_length,
            )
        return self._encoder

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return self.search_vectors(self.encoder.encode_queries([query]), k)[0]

    def batch_search(
        self, queries: Mapping[str, str] | Sequence[str], k: int = 10, show_progress: bool = False
    ) -> dict[str, list[Hit]]:
        """Search many queries; a sequence is keyed by position ("0", "1", ...)."""
        if not isinstance(queries, Mapping):
            queries = {str(i): q for i, q in enumerate(queries)}
        if not queries:
            return {}
        vectors = self.encoder.encode_queries(list(queries.values()))
        hits = self.search_vectors(vectors, k, show_progress)
        return dict(zip(queries.keys(), hits, strict=True))

    def search_vectors(
        self, queries: sp.csr_matrix, k: int = 10, show_progress: bool = False
    ) -> list[list[Hit]]:
        """Top-k for each row of an (n, vocab) query matrix; empty rows give no hits."""
        queries = sp.csr_matrix(queries, dtype=np.float32)
        results = []
        for row in tqdm(
            range(queries.shape[0]), desc="searching", unit="query", disable=not show_progress
        ):
            lo, hi = queries.indptr[row], queries.indptr[row + 1]
            docs, scores = self.score_top_k(queries.indices[lo:hi], queries.data[lo:hi], k)
            results.append(
                [Hit(self.index.docids[d], float(s)) for d, s in zip(docs, scores, strict=True)]
            )
        return results

    def score_top_k(
        self, terms: np.ndarray, weights: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Internal doc numbers and dequantised scores of the top k for one query vector."""
        idx = self.index
        acc = score_one(terms, weights, idx.indptr, idx.doc_ids, idx.impacts, idx.n_docs)
        docs, scores = top_k(acc, max(int(k), 0)) if k > 0 else (np.zeros(0, int), acc[:0])
        return docs, scores * np.float32(idx.scale)
