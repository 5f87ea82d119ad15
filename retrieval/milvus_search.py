"""Searching a Milvus collection that `spire export --to milvus` wrote, with spire's own
query encoder (inference-free: tokens weighted by the index's IDF; siamese: the model).

The index folder supplies the encoder and IDF; the collection holds the document
vectors. Their record must agree (indexing/milvus.py:check_compatible). Search is
exact: SPARSE_INVERTED_INDEX with inner product and `drop_ratio_search` 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from indexing.milvus import (
    ID_FIELD,
    VECTOR_FIELD,
    check_collection_name,
    check_compatible,
    connect,
    idf_digest,
    read_record,
    sparse_rows,
    with_retries,
)

from .explain import Contribution, Hit
from .searcher import Searcher, open_index

MAX_QUERIES_PER_CALL = 256
DEFAULT_COLLECTION = "spire"


class MilvusSearcher:
    """Top-k searches of query vectors in one collection (thread-safe, as pymilvus is)."""

    def __init__(self, uri: str, collection: str = DEFAULT_COLLECTION) -> None:
        self.uri = uri
        self.collection = check_collection_name(collection)
        self.client = connect(uri)
        self.record = read_record(self.client, collection, uri)
        with_retries(lambda: self.client.load_collection(collection), f"loading {collection}")

    @property
    def where(self) -> str:
        return f"--uri {self.uri} collection {self.collection!r}"

    def n_docs(self) -> int:
        stats = self.client.get_collection_stats(self.collection)
        return int(stats.get("row_count", 0))

    def search(self, queries: sp.csr_matrix, k: int) -> list[list[Hit]]:
        """The top k documents of each query row, best first; an empty row finds none."""
        queries = sp.csr_matrix(queries, dtype=np.float32)
        out: list[list[Hit]] = []
        for lo in range(0, queries.shape[0], MAX_QUERIES_PER_CALL):
            hi = min(lo + MAX_QUERIES_PER_CALL, queries.shape[0])
            vectors = sparse_rows(queries, lo, hi)
            asked = [i for i, v in enumerate(vectors) if v]
            found = [[] for _ in vectors]
            if asked:
                batch = [vectors[i] for i in asked]
                answers = with_retries(
                    lambda batch=batch: self._search(batch, k), f"searching {self.where}"
                )
                for i, hits in zip(asked, answers, strict=True):
                    found[i] = [Hit(str(h[ID_FIELD]), float(h["distance"])) for h in hits]
            out.extend(found)
        return out

    def _search(self, vectors: list[dict], k: int):
        return self.client.search(
            self.collection,
            vectors,
            limit=k,
            anns_field=VECTOR_FIELD,
            search_params={"metric_type": "IP", "params": {"drop_ratio_search": 0.0}},
            output_fields=[ID_FIELD],
        )

    def document_vector(self, docid: str) -> dict[int, float]:
        """One stored vector, for explanations."""
        rows = self.client.get(self.collection, ids=[docid], output_fields=[VECTOR_FIELD])
        return dict(rows[0][VECTOR_FIELD]) if rows else {}

    def explain(self, terms: np.ndarray, weights: np.ndarray, docid: str, tokenizer=None):
        """Each matched query term's weight, the document's and their product."""
        vector = self.document_vector(docid)
        found = [
            (int(t), float(w), float(vector[int(t)]))
            for t, w in zip(np.asarray(terms), np.asarray(weights), strict=True)
            if int(t) in vector
        ]
        ids = [t for t, _, _ in found]
        tokens = tokenizer.convert_ids_to_tokens(ids) if tokenizer and ids else ids
        out = [
            Contribution(t, str(tok), w, d) for (t, w, d), tok in zip(found, tokens, strict=True)
        ]
        return sorted(out, key=lambda c: (-c.score, c.term))


def open_milvus(
    index_dir: str | Path, uri: str, collection: str = DEFAULT_COLLECTION
) -> tuple[Searcher, MilvusSearcher]:
    """The index folder's searcher (for its query encoder) and the collection, checked to
    hold vectors of the same encoder and vocabulary."""
    local = open_index(index_dir)
    snap = local.snapshot()
    remote = MilvusSearcher(uri, collection)
    check_compatible(remote.record, snap.encoder, snap.vocab_size, remote.where)
    if remote.record.get("idf_sha256") != idf_digest(snap.idf):
        import warnings

        warnings.warn(
            f"{remote.where}: the index's IDF table differs from the one at export "
            "(spire reidf since?); queries are weighted by the index's",
            stacklevel=2,
        )
    return local, remote


def same_top_k(ours: list[Hit], theirs: list[Hit], k: int = 10, rtol: float = 1e-5) -> bool:
    """Whether two top-k lists agree up to ties: the same scores rank by rank, and the
    same documents above the k-th score (documents tied at it may differ, as either
    engine may break that tie its own way)."""
    a, b = ours[:k], theirs[:k]
    if len(a) != len(b):
        return False
    if not np.allclose([h.score for h in a], [h.score for h in b], rtol=rtol, atol=1e-6):
        return False
    if not a:
        return True
    cut = a[-1].score + max(abs(a[-1].score) * rtol, 1e-6)  # above the k-th score's ties
    mine = {h.docid: h.score for h in a if h.score > cut}
    theirs = {h.docid: h.score for h in b if h.score > cut}
    if mine.keys() != theirs.keys():
        return False
    return all(np.isclose(mine[d], theirs[d], rtol=rtol, atol=1e-6) for d in mine)
