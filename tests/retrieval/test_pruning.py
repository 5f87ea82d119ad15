"""Approximate modes: each knob at its exact setting equals exact search, and away from it
returns valid (scored correctly, sorted) but possibly different top-k lists; static
pruning keeps exactly the largest impacts."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from indexing.static_pruning import prune_documents, prune_postings
from retrieval import Searcher

from .test_kernels import brute_force_top, make_index, skewed_docs, skewed_queries


@pytest.fixture(scope="module")
def index():
    return make_index(skewed_docs(800, 300, seed=21), "uint8")


@pytest.fixture(scope="module")
def queries():
    return skewed_queries(40, 300, seed=22, integer=True)


def top(index, queries, k=10, **options):
    docs, scores, counts = Searcher(index, encoder=object()).search_arrays(queries, k, **options)
    return [docs[i, :n].tolist() for i, n in enumerate(counts)], scores, counts


def recall(found, expected) -> float:
    hits = sum(len(set(f) & set(e)) for f, e in zip(found, expected, strict=True))
    return hits / max(sum(len(e) for e in expected), 1)


def test_query_term_pruning(index, queries):
    exact, _, _ = top(index, queries)
    longest = int(np.diff(queries.indptr).max())
    assert top(index, queries, query_terms=longest)[0] == exact
    assert top(index, queries, query_terms=0)[0] == exact
    pruned, scores, counts = top(index, queries, query_terms=2)
    assert recall(pruned, exact) < 1.0
    for i in range(len(pruned)):
        assert np.all(np.diff(scores[i, : counts[i]]) <= 0)
    # Two-phase rescores the pruned query's candidates exactly, which can only help; it
    # cannot find a document that matches none of the kept terms.
    two_phase = top(index, queries, query_terms=2, rescore=30)[0]
    assert recall(pruned, exact) < recall(two_phase, exact) < 1.0
    assert top(index, queries, query_terms=longest, rescore=30)[0] == exact


def test_two_phase_scores_are_exact_scores(index, queries):
    found, scores, counts = top(index, queries, query_terms=3, rescore=40)
    exact_found, exact_scores, _ = top(index, queries, k=800)
    for i, docs in enumerate(found):
        true = dict(zip(exact_found[i], exact_scores[i].tolist(), strict=False))
        assert scores[i, : counts[i]].tolist() == [true[d] for d in docs]


def test_block_factor(index, queries):
    exact, _, _ = top(index, queries)
    assert top(index, queries, algorithm="blockmax", block_factor=1.0)[0] == exact
    loose = top(index, queries, algorithm="blockmax", block_factor=0.3)[0]
    assert 0 < recall(loose, exact) <= 1.0


def test_prune_postings_keeps_the_largest_impacts(index, queries):
    assert top(prune_postings(index, 0), queries)[0] == top(index, queries)[0]
    longest = int(np.diff(index.indptr).max())
    same = prune_postings(index, longest)
    np.testing.assert_array_equal(same.all_doc_ids(), index.all_doc_ids())
    pruned = prune_postings(index, 25)
    assert pruned.compression == index.compression == "bitpack"  # packed stays packed
    lengths = np.diff(pruned.indptr)
    assert lengths.max() == 25 and pruned.n_postings < index.n_postings
    for t in range(index.vocab_size):
        before = np.asarray(index.impacts[index.indptr[t] : index.indptr[t + 1]])
        after = pruned.impacts[pruned.indptr[t] : pruned.indptr[t + 1]]
        docs = pruned.term_doc_ids(t)
        assert np.all(np.diff(docs) > 0)  # still sorted by document
        np.testing.assert_array_equal(np.sort(after), np.sort(before)[::-1][: after.size][::-1])
    # Search over the pruned index is exact search over the pruned postings.
    assert top(pruned, queries)[0] == brute_force_top(pruned, queries, 10)


def test_prune_postings_breaks_ties_by_document():
    rows = np.ones((10, 1), dtype=np.float32)
    index = make_index(sp.csr_matrix(rows), "uint8")
    assert prune_postings(index, 3).all_doc_ids().tolist() == [0, 1, 2]


def test_prune_documents(index, queries):
    assert top(prune_documents(index, 0), queries)[0] == top(index, queries)[0]
    pruned = prune_documents(index, 5)
    per_doc = np.bincount(pruned.all_doc_ids(), minlength=index.n_docs)
    before = np.bincount(index.all_doc_ids(), minlength=index.n_docs)
    np.testing.assert_array_equal(per_doc, np.minimum(before, 5))
    dense_before = index.to_matrix().toarray()
    dense_after = pruned.to_matrix().toarray()
    for d in range(index.n_docs):
        kept = dense_after[d][dense_after[d] > 0]
        assert np.all(np.isin(kept, dense_before[d]))
        if before[d] > 5:
            assert kept.min() >= np.sort(dense_before[d])[::-1][4]
    assert top(pruned, queries)[0] == brute_force_top(pruned, queries, 10)


def test_pruning_refuses_negative_knobs(index):
    with pytest.raises(ValueError):
        prune_postings(index, -1)
    with pytest.raises(ValueError):
        prune_documents(index, -1)
