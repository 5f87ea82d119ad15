"""DenseSearcher: encode queries with a bi-encoder, exact inner-product top k from faiss."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from indexing.dense_index import DenseIndex

from .searcher import Hit


class DenseSearcher:
    """Exact top-k retrieval over a DenseIndex; the same API as the sparse `Searcher`.

    Without an explicit encoder it loads the one the index's manifest names.
    """

    def __init__(self, index: DenseIndex, encoder=None) -> None:
        self.index = index
        self._encoder = encoder

    @property
    def encoder(self):
        if self._encoder is None:
            from encoders.dense import load_dense_encoder

            self._encoder = load_dense_encoder(self.index.encoder)
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
        vectors = self.encoder.encode_queries(list(queries.values()), show_progress=show_progress)
        hits = self.search_vectors(vectors, k)
        return dict(zip(queries.keys(), hits, strict=True))

    def search_vectors(self, queries: np.ndarray, k: int = 10) -> list[list[Hit]]:
        """Top-k for each row of an (n, dim) query array, best first.

        Every document gets a score (cosine may be negative or zero), so a query gets
        min(k, n_docs) hits; a zero query vector (blank text) gets none.
        """
        scores, rows = self.index.search(queries, k)
        blank = ~np.any(np.asarray(queries) != 0, axis=1)
        docids = self.index.docids
        return [
            []
            if blank[i]
            else [
                Hit(docids[r], float(s)) for r, s in zip(rows[i], scores[i], strict=True) if r >= 0
            ]
            for i in range(len(rows))
        ]
