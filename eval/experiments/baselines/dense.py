"""Dense retrieval baseline: a mean-pooled bi-encoder and exact inner-product search (faiss)."""

from __future__ import annotations

from encoders.dense import load_dense_encoder
from eval.data.datasets import Dataset
from eval.data.run import Run
from indexing.dense_index import DenseIndex
from retrieval import DenseSearcher


def dense_run(
    data: Dataset,
    model: str = "all-MiniLM-L6-v2",
    k: int = 1000,
    show_progress: bool = True,
) -> Run:
    """Encode the corpus, index it in faiss and search the judged queries, top `k` each.

    Identical ids are kept: whether to drop them (BEIR's rule) is the caller's choice,
    via `Run.without_identical_ids()`.
    """
    encoder = load_dense_encoder(model)
    vectors = encoder.encode_documents(data.corpus.texts, show_progress=show_progress)
    index = DenseIndex.build(data.corpus.ids, vectors, encoder=encoder.name)
    hits = DenseSearcher(index, encoder).batch_search(data.queries, k, show_progress=show_progress)
    return Run.from_hits(hits, dataset=data.name)
