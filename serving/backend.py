"""The backend interface between the HTTP server and what answers it.

The server is given a backend; it never opens an index or loads a model itself. A
backend searches query vectors over one consistent view (a snapshot) per request,
explains a hit, encodes texts, describes itself, and, where writable, hands the server
the store its writer and merger commit to. `IndexBackend` is spire's own (a Searcher
from `retrieval.open_index` plus the folder's `SegmentStore`); another engine (a Milvus
collection, a pruned model's encoder) implements the same methods and is passed to
`create_app(backend=...)`, without serving importing it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from indexing.incremental import SegmentStore
from retrieval import Searcher, SegmentHit, open_index


class Backend(Protocol):
    """What the server needs of an index and its encoder."""

    store: SegmentStore | None  # writable: the store adds and deletes commit to

    def snapshot(self) -> Any:
        """One view for a whole request: `.generation`, `.n_docs`, `.stats()`,
        `.locate(docid)`; searches and explanations of one request read the same."""

    def encoder(self, snap: Any) -> Any:
        """The encoder of that view: `encode_queries`, `encode_documents`, `tokenizer`."""

    def search(self, queries: sp.csr_matrix, k: int, snap: Any) -> list[list[SegmentHit]]:
        """The top k live hits of each query row, best first."""

    def explain(self, snap: Any, terms: np.ndarray, weights: np.ndarray, hit: SegmentHit):
        """The matched terms of one hit: `.token .term .query_weight .doc_weight .score`."""

    def info(self, snap: Any) -> dict:
        """Documents, segments and postings of the view, for GET /stats."""


class IndexBackend:
    """A spire index folder: searched by one Searcher, written through its store."""

    def __init__(self, searcher: Searcher, store: SegmentStore | None = None) -> None:
        self.searcher = searcher
        self.store = store

    @classmethod
    def open(cls, folder: str | Path, *, writable: bool = True, verify: bool = True):
        """A folder's backend; read-only opens it with the reader alone."""
        if not writable:
            return cls(open_index(folder, verify=verify))
        store = SegmentStore(folder, verify=verify)
        return cls(open_index(store), store)

    def snapshot(self):
        return self.searcher.snapshot()

    def encoder(self, snap):
        return self.searcher.encoder_for(snap)

    def search(self, queries: sp.csr_matrix, k: int, snap) -> list[list[SegmentHit]]:
        return self.searcher.search_located(queries, k, snap)

    def explain(self, snap, terms: np.ndarray, weights: np.ndarray, hit: SegmentHit):
        return self.searcher.explain(snap, terms, weights, hit)

    def info(self, snap) -> dict:
        return snap.stats()
