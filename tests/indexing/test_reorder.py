"""Document reordering by recursive graph bisection (indexing/reorder.py, spire reorder):
the same scores under new numbers, clustered postings, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from indexing import EncoderInfo, InvertedIndex
from indexing.reorder import mean_log_gap, renumber, reorder
from retrieval import Searcher
from spire.cli import app


def clustered(n_docs: int = 600, topics: int = 6, seed: int = 0) -> sp.csr_matrix:
    """Documents that each draw 12 terms from one topic's 40, in shuffled order."""
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for d in range(n_docs):
        terms = np.unique(rng.integers(0, 40, 12) + 40 * rng.integers(topics))
        rows += [d] * len(terms)
        cols += terms.tolist()
    weights = rng.uniform(0.1, 3.0, len(rows)).astype(np.float32)
    return sp.csr_matrix((weights, (rows, cols)), shape=(n_docs, 40 * topics + 7))


def index_of(docs: sp.csr_matrix) -> InvertedIndex:
    ids = [f"d{i}" for i in range(docs.shape[0])]
    return InvertedIndex.from_matrix(docs, ids, EncoderInfo(name="x", mode="siamese"))


def hits_by_score(searcher, queries) -> list[dict[str, float]]:
    return [{h.docid: h.score for h in row} for row in searcher.search_vectors(queries, 10)]


def test_same_scores_under_new_numbers():
    docs = clustered()
    index = index_of(docs)
    reordered, report = reorder(index, iterations=8, min_size=8)
    assert sorted(reordered.docids) == sorted(index.docids)
    back = [reordered.docids.index(d) for d in index.docids]
    assert abs(reordered.to_matrix()[back] - index.to_matrix()).max() == 0
    queries = docs[:30]
    for a, b in zip(hits_by_score(Searcher(index), queries),
                    hits_by_score(Searcher(reordered), queries), strict=True):  # fmt: skip
        assert sorted(a.values()) == sorted(b.values())  # ties may swap documents
        assert all(b.get(d, s) == s for d, s in a.items())
    assert report.log_gap_after < 0.8 * report.log_gap_before
    assert mean_log_gap(reordered) == report.log_gap_after


def test_renumber_refuses_what_is_not_a_permutation():
    index = index_of(clustered(20))
    with pytest.raises(ValueError, match="permutation"):
        renumber(index, np.zeros(20, dtype=np.int64))


def test_cli_reorders_in_place_and_refuses_a_segmented_index(tmp_path):
    folder = tmp_path / "idx"
    index = index_of(clustered(200))
    index.save(folder)
    result = CliRunner().invoke(app, ["reorder", str(folder), "--iterations", "4", "--json"])
    assert result.exit_code == 0, result.output
    again = InvertedIndex.load(folder)
    assert sorted(again.docids) == sorted(index.docids) and again.docids != index.docids
    (tmp_path / "seg" / "segments").mkdir(parents=True)
    (tmp_path / "seg" / "manifest.json").write_text("{}")
    result = CliRunner().invoke(app, ["reorder", str(tmp_path / "seg")])
    assert result.exit_code != 0
