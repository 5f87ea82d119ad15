"""A Milvus collection behind spire's HTTP API: `spire serve DIR --backend milvus --uri URI`.

The index folder DIR supplies the query encoder (and an inference-free index's IDF);
the collection, written by `spire export --to milvus`, holds the document vectors and
answers the searches. Read-only: documents are added to Milvus by exporting again (or by
the engine's own tools), not through this server. The server (server.py) never imports
this module; the CLI builds the backend and hands it to `create_app(backend=...)`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from retrieval import SegmentHit
from retrieval.milvus_search import DEFAULT_COLLECTION, open_milvus

COUNT_TTL_S = 5.0  # the row count is re-read at most this often (GET /stats, /health)


@dataclass(frozen=True)
class MilvusView:
    """What one request sees: the collection's row count and the local query side."""

    generation: int
    n_docs: int
    local: object  # the index folder's snapshot: the encoder and IDF of the queries
    record: dict

    def locate(self, docid: str):
        return None  # no segments here: fusion with a dense side is not offered

    def stats(self) -> dict:
        return {
            "generation": self.generation,
            "docs": self.n_docs,
            "deleted": 0,
            "segments": 1,
            "postings": 0,  # Milvus does not report it
            "encoder": self.local.encoder.name,
            "mode": self.local.encoder.mode,
            "impact_dtype": "float32",
            "segment_sizes": [self.n_docs],
        }


class MilvusBackend:
    """The Backend interface (serving/backend.py) over one Milvus collection."""

    store = None  # read-only

    def __init__(self, index_dir: str | Path, uri: str, collection: str = DEFAULT_COLLECTION):
        self.local, self.remote = open_milvus(index_dir, uri, collection)
        self._lock = threading.Lock()
        self._count = (time.monotonic(), self.remote.n_docs())

    def _n_docs(self) -> int:
        with self._lock:
            read_at, count = self._count
            if time.monotonic() - read_at > COUNT_TTL_S:
                self._count = (time.monotonic(), self.remote.n_docs())
            return self._count[1]

    def snapshot(self) -> MilvusView:
        local = self.local.snapshot()
        return MilvusView(local.generation, self._n_docs(), local, self.remote.record)

    def encoder(self, snap: MilvusView):
        return self.local.encoder_for(snap.local)

    def search(self, queries: sp.csr_matrix, k: int, snap: MilvusView) -> list[list[SegmentHit]]:
        return [
            [SegmentHit(h.docid, h.score, 0, -1) for h in hits]
            for hits in self.remote.search(queries, k)
        ]

    def explain(self, snap: MilvusView, terms: np.ndarray, weights: np.ndarray, hit: SegmentHit):
        tokenizer = getattr(self.encoder(snap), "tokenizer", None)
        return self.remote.explain(terms, weights, hit.docid, tokenizer)

    def info(self, snap: MilvusView) -> dict:
        return snap.stats()
