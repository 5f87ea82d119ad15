"""Our document vectors in real Lucene: export as a JsonVectorCollection, index with
Anserini (-impact -pretokenized), search with Pyserini's LuceneImpactSearcher."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from eval.data.run import Run
from indexing import InvertedIndex
from indexing.export import export_index, id_to_token

from .pyserini_env import index_collection, pyserini

# Lucene impact queries take integer weights; Pyserini's own SPLADE query encoder
# rounds weight * 100, and so do we.
QUERY_FACTOR = 100


def integer_queries(queries: sp.csr_matrix, factor: int = QUERY_FACTOR) -> sp.csr_matrix:
    """Round query weights onto integers (weight * factor); weights rounding to 0 drop."""
    out = sp.csr_matrix(queries, dtype=np.float32, copy=True)
    out.data = np.rint(out.data * factor)
    out.eliminate_zeros()
    return out


class _PreparedQueries:
    """Pyserini asks its query encoder for each query; ours are computed already."""

    def __init__(self, vectors: dict[str, dict[str, int]]) -> None:
        self.vectors = vectors

    def encode(self, qid: str) -> dict[str, int]:
        return self.vectors[qid]


def build_lucene_index(index: InvertedIndex, tokenizer, folder: Path) -> Path:
    """Export our integer impacts and index them with Anserini; returns the Lucene index."""
    export_index(index, tokenizer, folder / "collection", "lucene-jsonvector", overwrite=True)
    (folder / "collection" / "export.json").unlink()  # not part of the collection
    index_collection("JsonVectorCollection", folder / "collection", folder / "lucene",
                     "-impact", "-pretokenized")  # fmt: skip
    return folder / "lucene"


def search_lucene_impact(
    lucene_dir: Path, qids: list[str], queries: sp.csr_matrix, tokenizer, k: int = 1000
) -> Run:
    """LuceneImpactSearcher over integer query vectors (rows of `queries`, one per qid)."""
    vocab = id_to_token(tokenizer, queries.shape[1])
    vectors = {}
    for row, qid in enumerate(qids):
        lo, hi = queries.indptr[row], queries.indptr[row + 1]
        vectors[qid] = {
            vocab[t]: int(w)
            for t, w in zip(queries.indices[lo:hi], queries.data[lo:hi], strict=True)
        }
    searcher = pyserini().LuceneImpactSearcher(str(lucene_dir), _PreparedQueries(vectors))
    results = searcher.batch_search(qids, qids, k=k, threads=1)
    return Run({q: {h.docid: float(h.score) for h in results.get(q, [])} for q in qids})


def lucene_impact_run(
    index: InvertedIndex,
    tokenizer,
    qids: list[str],
    queries: sp.csr_matrix,
    k: int = 1000,
    workdir: Path | None = None,
) -> Run:
    """Index `index` in Lucene (in a temporary folder unless `workdir`) and search it."""
    with tempfile.TemporaryDirectory(prefix="spire-lucene-") as tmp:
        folder = Path(workdir) if workdir is not None else Path(tmp)
        lucene_dir = build_lucene_index(index, tokenizer, folder)
        return search_lucene_impact(lucene_dir, qids, integer_queries(queries), tokenizer, k)
