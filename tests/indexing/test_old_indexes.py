"""Index folders written by the code of commit 7e1c374 load with today's code and give the
hits that code gave (tests/indexing/fixtures_7e1c374/README.md says how they were made)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from indexing.dense_index import DenseIndex
from indexing.manifest import Manifest
from retrieval import open_index

FIXTURES = Path(__file__).parent / "fixtures_7e1c374"
RESULTS = json.loads((FIXTURES / "results_7e1c374.json").read_text())
SPARSE = ["plain-inference-free", "plain-siamese", "segmented"]


def _query_matrix(name: str, vocab: int) -> sp.csr_matrix:
    """The query vectors that 7e1c374's encoder searched with (the inference-free query
    side has changed since: punctuation pieces are no longer searched)."""
    rows = RESULTS["query_vectors"][name].values()
    indptr = np.cumsum([0, *(len(ids) for ids, _ in rows)])
    indices = [i for ids, _ in rows for i in ids]
    data = np.asarray([w for _, weights in rows for w in weights], dtype=np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), vocab))


def _same_hits(found, expected: dict[str, list]) -> None:
    for hits, (qid, want) in zip(found, expected.items(), strict=True):
        assert [h.docid for h in hits] == [docid for docid, _ in want], qid
        got = [h.score for h in hits]
        np.testing.assert_allclose(got, [score for _, score in want], rtol=1e-6)


@pytest.mark.parametrize("name", SPARSE)
def test_a_sparse_index_from_7e1c374_gives_the_same_hits(name, tmp_path):
    folder = shutil.copytree(FIXTURES / name, tmp_path / name)  # opening may take a lock
    searcher = open_index(folder)
    vocab = 30522  # splade-tiny's
    _same_hits(searcher.search_vectors(_query_matrix(name, vocab), k=10), RESULTS[name])


def test_a_siamese_index_from_7e1c374_answers_text_queries_as_it_did(tmp_path, splade_tiny_path):
    folder = shutil.copytree(FIXTURES / "plain-siamese", tmp_path / "plain-siamese")
    found = open_index(folder).batch_search(RESULTS["queries"], k=10)
    _same_hits(found.values(), RESULTS["plain-siamese"])
    assert not Manifest.read(folder).encoder.static_queries


def test_a_dense_index_from_7e1c374_gives_the_same_neighbours():
    expected = RESULTS["dense"]
    scores, rows = DenseIndex.load(FIXTURES / "dense").search(
        np.asarray(expected["queries"], dtype=np.float32), 5
    )
    assert rows.tolist() == expected["rows"]
    np.testing.assert_allclose(scores, expected["scores"], rtol=1e-6)
