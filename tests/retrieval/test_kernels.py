"""The fast kernels: exhaustive, block-max and two-phase search against brute force and
against each other, their edge cases, every approximate knob at its exact setting, and
thread counts, over packed doc ids (the default) and plain ones, which must agree to the
bit. No timing here: speed lives in scripts/bench_search.py."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from indexing import DEFAULT_COMPRESSION, EncoderInfo, InvertedIndex
from indexing.blocks import BlockMax
from retrieval import Searcher
from retrieval.topk import top_k

INFO = EncoderInfo(name="test", mode="siamese")
EXACT = [
    {"algorithm": "taat"},
    {"algorithm": "blockmax"},
    {"algorithm": "blockmax", "block_shift": 0},  # one document per block
    {"algorithm": "blockmax", "block_shift": 3},
    {"algorithm": "taat", "query_terms": 1000, "rescore": 50},  # knobs at exact settings
    {"algorithm": "blockmax", "query_terms": 0, "block_factor": 1.0},
    {"algorithm": "blockmax", "query_terms": 1000, "rescore": 20},
    {"algorithm": "taat", "n_threads": 2},
    {"algorithm": "taat", "window_shift": 6},  # taat in windows of 64 documents
    {"algorithm": "taat", "window_shift": 0, "query_terms": 1000, "rescore": 20},
    {"algorithm": "blockmax", "n_threads": 3},
]
APPROXIMATE = [
    {"algorithm": "taat", "query_terms": 3},
    {"algorithm": "taat", "query_terms": 3, "rescore": 40},
    {"algorithm": "taat", "window_shift": 5, "query_terms": 2, "rescore": 30},
    {"algorithm": "taat", "prune_postings": 20, "rescore": 50},
    {"algorithm": "taat", "prune_postings": 7},
    {"algorithm": "blockmax", "block_factor": 0.5},
    {"algorithm": "blockmax", "block_shift": 2, "query_terms": 4, "rescore": 25},
]
COMPRESSIONS = ["bitpack", "none"]


def skewed_docs(n_docs: int, vocab: int, seed: int, empty_every: int = 23) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    probs = 1.0 / np.arange(1, vocab + 1) ** 1.05
    probs /= probs.sum()
    rows, cols, vals = [], [], []
    for i in range(n_docs):
        if i % empty_every == 0:
            continue  # a document with no terms
        terms = np.unique(rng.choice(vocab, size=int(rng.integers(1, 30)), p=probs))
        rows += [i] * terms.size
        cols += terms.tolist()
        vals += rng.gamma(2.0, 0.6, size=terms.size).tolist()
    return sp.csr_matrix((vals, (rows, cols)), shape=(n_docs, vocab), dtype=np.float32)


def skewed_queries(n: int, vocab: int, seed: int, integer: bool = False) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    probs = 1.0 / np.arange(1, vocab + 1) ** 1.05
    probs /= probs.sum()
    dense = np.zeros((n, vocab), dtype=np.float32)
    for i in range(n):
        terms = np.unique(rng.choice(vocab, size=int(rng.integers(1, 25)), p=probs))
        w = rng.integers(1, 5, terms.size) if integer else rng.uniform(0.05, 3.0, terms.size)
        dense[i, terms] = w
    return sp.csr_matrix(dense)


def make_index(
    docs: sp.csr_matrix, dtype: str, compression: str = DEFAULT_COMPRESSION
) -> InvertedIndex:
    ids = [f"d{i}" for i in range(docs.shape[0])]
    return InvertedIndex.from_matrix(docs, ids, INFO, dtype, compression=compression)


def brute_force_top(index: InvertedIndex, queries: sp.csr_matrix, k: int) -> list[list[int]]:
    """Exact integer arithmetic (integer weights times integer impacts), ties to lower doc."""
    impacts = sp.csc_matrix(
        (np.asarray(index.impacts, dtype=np.float64), index.all_doc_ids(), index.indptr),
        shape=(index.n_docs, index.vocab_size),
    )
    scores = (queries.astype(np.float64) @ impacts.T).toarray()
    return [top_k(row, k)[0].tolist() for row in scores]


def run(index: InvertedIndex, queries, k: int, **options) -> tuple[np.ndarray, ...]:
    shift = options.pop("block_shift", 7)
    searcher = Searcher(index, encoder=object(), block_shift=shift)
    searcher.engine.window_shift = options.pop("window_shift", searcher.engine.window_shift)
    return searcher.search_arrays(queries, k, **options)


def as_lists(docs: np.ndarray, counts: np.ndarray) -> list[list[int]]:
    return [docs[i, :n].tolist() for i, n in enumerate(counts)]


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize("k", [1, 10, 100, 5000])
@pytest.mark.parametrize("options", EXACT)
def test_integer_queries_equal_brute_force(dtype, k, options):
    # Integer weights times integer impacts are exact in float32, so the ranking, ties
    # (common with 8-bit impacts) included, must be exactly brute force's.
    index = make_index(skewed_docs(700, 300, seed=11), dtype)
    queries = skewed_queries(40, 300, seed=12, integer=True)
    docs, scores, counts = run(index, queries, k, **dict(options))
    assert as_lists(docs, counts) == brute_force_top(index, queries, k)
    assert counts.sum() > 0


@pytest.mark.parametrize("options", EXACT)
def test_float_queries_equal_the_exhaustive_kernel_to_the_bit(options):
    index = make_index(skewed_docs(900, 400, seed=3), "float32")
    queries = skewed_queries(50, 400, seed=4)
    ref = run(index, queries, 20, algorithm="taat")
    got = run(index, queries, 20, **dict(options))
    for a, b in zip(ref, got, strict=True):
        np.testing.assert_array_equal(a, b)


def test_float_queries_match_float64_brute_force():
    docs = skewed_docs(900, 400, seed=5)
    index = make_index(docs, "float32")
    queries = skewed_queries(30, 400, seed=6)
    exact = (queries.astype(np.float64) @ docs.astype(np.float64).T).toarray()
    for options in EXACT:
        found, scores, counts = run(index, queries, 10, **dict(options))
        for i in range(queries.shape[0]):
            kth = np.sort(exact[i])[::-1][counts[i] - 1]
            np.testing.assert_allclose(scores[i, : counts[i]], exact[i][found[i, : counts[i]]],
                                       rtol=1e-5)  # fmt: skip
            assert scores[i, counts[i] - 1] == pytest.approx(kth, rel=1e-5)


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("algorithm", ["taat", "blockmax"])
def test_real_cranfield_vectors_equal_brute_force(
    encoded_corpus, siamese_encoder, algorithm, compression
):
    from eval.experiments.baselines.lucene_impact import integer_queries

    data, docs, _ = encoded_corpus("cranfield")
    index = make_index(docs, "uint8", compression)
    queries = integer_queries(siamese_encoder.encode_queries(list(data.queries.values())[:60]))
    found, _, counts = run(index, queries, 10, algorithm=algorithm)
    assert as_lists(found, counts) == brute_force_top(index, queries, 10)
    threaded = run(index, queries, 10, algorithm=algorithm, n_threads=2, block_factor=1.0)
    np.testing.assert_array_equal(threaded[0], found)


# --------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("options", EXACT)
def test_edge_cases(options, compression):
    docs = skewed_docs(300, 50, seed=8).tolil()
    docs[:, 49] = 0  # term 49 has no postings
    index = make_index(sp.csr_matrix(docs), "uint8", compression)
    queries = sp.csr_matrix(
        (np.array([0, 0, 3.0, 2.0, 1.0, 1.0, 1.0], dtype=np.float32),
         np.array([2, 5, 49, 49, 3, 1, 0]), np.array([0, 0, 2, 3, 5, 7])),
        shape=(5, 50),
    )  # fmt: skip
    # rows: empty; only zero weights; absent term; absent + real term; two real terms
    found, scores, counts = run(index, queries, 1000, **dict(options))
    assert counts[:3].tolist() == [0, 0, 0]
    expected = brute_force_top(index, queries, 1000)
    assert as_lists(found, counts) == expected
    n_matching = len(expected[4])
    assert 0 < n_matching < 300  # k beyond the corpus returns only positive scores
    empty_docs = set(range(0, 300, 23))
    assert not empty_docs & set(found[4, : counts[4]].tolist())
    assert (found[4, counts[4] :] == -1).all() and (scores[4, counts[4] :] == 0).all()


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_ties_at_the_cut_go_to_lower_document_numbers(compression):
    rows = np.zeros((1000, 3), dtype=np.float32)
    rows[:, 0] = 1.0
    rows[[900, 17, 555], 0] = 2.0
    index = make_index(sp.csr_matrix(rows), "uint8", compression)
    q = sp.csr_matrix(np.array([[1.0, 0, 0]], dtype=np.float32))
    for options in EXACT:
        found, _, counts = run(index, q, 6, **dict(options))
        assert found[0, : counts[0]].tolist() == [17, 555, 900, 0, 1, 2], options


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_negative_weights_fall_back_to_exhaustive_scoring(compression):
    index = make_index(skewed_docs(400, 60, seed=9), "float32", compression)
    queries = skewed_queries(20, 60, seed=10)
    queries.data[::3] *= -1
    ref = run(index, queries, 10, algorithm="taat")
    got = run(index, queries, 10, algorithm="blockmax")
    np.testing.assert_array_equal(ref[0], got[0])


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
@pytest.mark.parametrize("options", EXACT + APPROXIMATE)
def test_packed_and_plain_doc_ids_give_the_same_results_to_the_bit(dtype, options):
    # Packing is lossless, so every knob, approximate ones included, must return the same
    # hits and the same float32 scores from either layout. 3,000 documents: many packed
    # blocks per term, and dozens of windows when window_shift is set.
    docs = skewed_docs(3000, 400, seed=31, empty_every=17)
    plain, packed = (make_index(docs, dtype, c) for c in ("none", "bitpack"))
    queries = skewed_queries(60, 400, seed=32)
    for k in (10, 3000):
        ref = run(plain, queries, k, **dict(options))
        got = run(packed, queries, k, **dict(options))
        for a, b in zip(ref, got, strict=True):
            np.testing.assert_array_equal(a, b)


def test_corpus_with_no_postings_at_all():
    for compression in COMPRESSIONS:
        index = make_index(sp.csr_matrix((40, 30), dtype=np.float32), "uint8", compression)
        found, _, counts = run(index, skewed_queries(5, 30, seed=3), 10)
        assert counts.tolist() == [0] * 5 and (found == -1).all()


def test_k_zero_and_no_queries():
    index = make_index(skewed_docs(50, 20, seed=1), "uint8")
    found, scores, counts = run(index, skewed_queries(3, 20, seed=2), 0)
    assert found.shape == (3, 0) and counts.tolist() == [0, 0, 0]
    found, scores, counts = run(index, sp.csr_matrix((0, 20), dtype=np.float32), 10)
    assert found.shape == (0, 10)


def test_block_max_metadata_describes_the_postings():
    index = make_index(skewed_docs(500, 80, seed=13), "uint8")
    bm = BlockMax.of_index(index, shift=4)
    assert bm.n_blocks == 32 and bm.start[-1] == index.n_postings
    for t in range(index.vocab_size):
        for j in range(bm.indptr[t], bm.indptr[t + 1]):
            run_docs = index.all_doc_ids()[bm.start[j] : bm.start[j + 1]]
            assert run_docs.size and (run_docs >> 4 == bm.block[j]).all()
            assert bm.max_impact[j] == index.impacts[bm.start[j] : bm.start[j + 1]].max()
        if bm.indptr[t + 1] > bm.indptr[t]:
            assert bm.start[bm.indptr[t]] == index.indptr[t]


def test_bad_knobs_are_refused():
    index = make_index(skewed_docs(20, 10, seed=1), "uint8")
    for bad in ({"algorithm": "wand"}, {"block_factor": 0}, {"block_factor": 1.5},
                {"query_terms": -1}, {"rescore": -2}):  # fmt: skip
        with pytest.raises(ValueError):
            Searcher(index, encoder=object(), **bad)
