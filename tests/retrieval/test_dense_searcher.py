"""DenseSearcher over a real all-MiniLM-L6-v2 index: the sparse Searcher's API, dense scores."""

from __future__ import annotations

import numpy as np
import pytest

from indexing.dense_index import DenseIndex
from retrieval import DenseSearcher, Hit

IDS = ["paris", "cell", "berlin", "photo", "empty"]
TEXTS = [
    "Paris is the capital and largest city of France.",
    "The mitochondria is the powerhouse of the cell.",
    "Berlin is the capital of Germany.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "",
]


@pytest.fixture(scope="module")
def index(dense_encoder) -> DenseIndex:
    return DenseIndex.build(IDS, dense_encoder.encode_documents(TEXTS), dense_encoder.name)


@pytest.fixture(scope="module")
def searcher(index, dense_encoder) -> DenseSearcher:
    return DenseSearcher(index, dense_encoder)


def test_search_ranks_by_cosine(searcher, dense_encoder):
    hits = searcher.search("what is the capital of france", k=3)
    assert [type(h) for h in hits] == [Hit] * 3
    assert [h.docid for h in hits][:2] == ["paris", "berlin"]
    q = dense_encoder.encode_queries(["what is the capital of france"])[0]
    d = dense_encoder.encode_documents([TEXTS[0]])[0]
    assert hits[0].score == pytest.approx(float(q @ d), abs=1e-5)
    assert hits[0].score == pytest.approx(0.83, abs=0.01)  # MODELS.md
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))


def test_batch_search_mapping_and_sequence(searcher):
    runs = searcher.batch_search({"q1": "cell biology", "q2": "german capital"}, k=1)
    assert list(runs) == ["q1", "q2"]
    assert runs["q1"][0].docid == "cell" and runs["q2"][0].docid == "berlin"
    by_position = searcher.batch_search(["cell biology", "german capital"], k=1)
    assert by_position == {"0": runs["q1"], "1": runs["q2"]}
    assert searcher.batch_search({}, k=3) == {}


def test_k_edges_and_blank_query(searcher):
    everything = searcher.search("plants", k=100)
    assert sorted(h.docid for h in everything) == sorted(IDS)  # min(k, n_docs) hits
    assert {h.docid: h.score for h in everything}["empty"] == 0.0  # blank doc: zero vector
    assert searcher.search("plants", k=0) == []
    assert searcher.search("   ", k=3) == []  # a blank query has no direction: no hits


def test_search_vectors_matches_search(searcher, dense_encoder):
    vectors = dense_encoder.encode_queries(["cell biology", "french capital"])
    assert searcher.search_vectors(vectors, 2)[1] == searcher.search("french capital", 2)


def test_encoder_comes_from_the_saved_index(index, tmp_path, minilm_path):
    index.save(tmp_path / "dense")
    loaded = DenseIndex.load(tmp_path / "dense")
    assert loaded.encoder == "all-MiniLM-L6-v2"
    hits = DenseSearcher(loaded).search("german capital", k=1)  # loads the encoder itself
    assert hits[0].docid == "berlin"
    np.testing.assert_allclose(
        hits[0].score, DenseSearcher(index).search("german capital", k=1)[0].score, atol=1e-6
    )
