"""spire eval's search time: the first query (numba compile or cache load) is timed apart
as compile_s, so search_ms_per_query is the warm rate. No timing thresholds here: the
test checks the structure and that the warm-up ran before the timed pass."""

from __future__ import annotations

import copy

import numpy as np
import scipy.sparse as sp

from eval.data.datasets import Dataset
from eval.experiments.systems import search_sparse
from indexing import InvertedIndex
from indexing.manifest import EncoderInfo
from retrieval import Searcher


class CountingEncoder:
    """The real inference-free query encoder, recording each encode_queries batch."""

    def __init__(self, encoder) -> None:
        self.encoder = encoder
        self.batches: list[list[str]] = []

    def encode_queries(self, texts, show_progress: bool = False) -> sp.csr_matrix:
        self.batches.append(list(texts))
        return self.encoder.encode_queries(texts)

    def __getattr__(self, name: str):
        return getattr(self.encoder, name)


def test_search_time_excludes_the_first_compiled_query(inference_free_encoder):
    vocab = inference_free_encoder.vocab_size
    rng = np.random.default_rng(3)
    query_encoder = copy.copy(inference_free_encoder)  # the session's one stays untouched
    query_encoder.idf = rng.uniform(0.5, 3.0, vocab).astype(np.float32)
    noise = sp.random(56, vocab, density=0.002, format="csr", random_state=rng, dtype=np.float32)
    texts = ["wing lift", "drag of a wing", "laminar boundary layer", "shock"]
    docs = sp.vstack([query_encoder.encode_queries(texts), noise], format="csr")
    index = InvertedIndex.from_matrix(
        docs, [f"d{i}" for i in range(60)], EncoderInfo("splade-tiny", "inference-free")
    )
    queries = {"q1": "wing lift and drag", "q2": "boundary layer flow", "q3": "shock waves"}
    data = Dataset("tiny", corpus=None, queries=queries, qrels={})
    encoder = CountingEncoder(query_encoder)

    result = search_sparse(index, encoder, data, k=10)

    # warm-up: the first query alone, then the timed pass over every query
    assert encoder.batches == [["wing lift and drag"], list(queries.values())]
    stats = result.stats
    assert isinstance(stats["compile_s"], float) and stats["compile_s"] >= 0
    assert isinstance(stats["search_ms_per_query"], float) and stats["search_ms_per_query"] >= 0
    expected = Searcher(index, query_encoder).batch_search(queries, 10)
    assert any(expected.values())  # the comparison below compares hits
    for qid, hits in expected.items():
        assert result.run.get(qid, {}) == {h.docid: h.score for h in hits}
