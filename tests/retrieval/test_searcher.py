"""Searcher: exact top-k against brute force, edge cases, and the real splade-tiny encoders."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from encoders.inference_free import InferenceFreeEncoder
from indexing import EncoderInfo, InvertedIndex, build_index
from retrieval import Hit, Searcher

INFO = EncoderInfo(name="test", mode="siamese")


class NoEncoder:
    """Stands in for an encoder: these tests pass query vectors directly."""

    def __getattr__(self, name):
        raise AssertionError(f"the encoder should not be used ({name})")


def make_index(docs: sp.csr_matrix, dtype: str = "float32") -> InvertedIndex:
    return InvertedIndex.from_matrix(docs, [f"d{i}" for i in range(docs.shape[0])], INFO, dtype)


def searcher(docs: sp.csr_matrix, dtype: str = "float32") -> Searcher:
    return Searcher(make_index(docs, dtype), encoder=NoEncoder())


def query(vocab: int, weights: dict[int, float]) -> sp.csr_matrix:
    q = np.zeros((1, vocab), dtype=np.float32)
    for t, w in weights.items():
        q[0, t] = w
    return sp.csr_matrix(q)


def random_queries(n: int, vocab: int, seed: int) -> sp.csr_matrix:
    """Queries shaped like the documents: a few skewed terms with positive weights."""
    rng = np.random.default_rng(seed)
    probs = 1.0 / np.arange(1, vocab + 1) ** 1.1
    probs /= probs.sum()
    rows = np.zeros((n, vocab), dtype=np.float32)
    for i in range(n):
        terms = np.unique(rng.choice(vocab, size=int(rng.integers(1, 12)), p=probs))
        rows[i, terms] = rng.uniform(0.1, 3.0, size=terms.size)
    return sp.csr_matrix(rows)


def brute_force(queries: sp.csr_matrix, docs: sp.csr_matrix) -> np.ndarray:
    """Q @ D.T in float64, as a dense (n_queries, n_docs) array."""
    return (queries.astype(np.float64) @ docs.astype(np.float64).T).toarray()


def expected_ranking(scores: np.ndarray, k: int) -> list[int]:
    """Positive scores, best first, ties to the lower doc number."""
    positive = np.flatnonzero(scores > 0)
    order = np.lexsort((positive, -scores[positive]))
    return positive[order][:k].tolist()


def doc_numbers(hits: list[Hit]) -> list[int]:
    return [int(h.docid[1:]) for h in hits]


# --------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("k", [1, 10, 50, 1000])
def test_float32_matches_brute_force(random_docs, k):
    s = searcher(random_docs, "float32")
    queries = sp.vstack([random_queries(40, 500, seed=1), random_docs[:20]]).tocsr()
    expected = brute_force(queries, random_docs)
    results = s.search_vectors(queries, k)
    assert len(results) == queries.shape[0]
    n_hits = 0
    for row, hits in enumerate(results):
        assert doc_numbers(hits) == expected_ranking(expected[row], k), row
        got = np.array([h.score for h in hits])
        np.testing.assert_allclose(
            got, expected[row][doc_numbers(hits)], rtol=1e-5, atol=1e-5, err_msg=str(row)
        )
        n_hits += len(hits)
    assert n_hits > 0


def assert_exact_top_k(hits: list[Hit], scores: np.ndarray, k: int, tol: float) -> None:
    """The hits are a correct top k of `scores`, allowing near-ties (within tol) to swap."""
    docs = doc_numbers(hits)
    got = np.array([h.score for h in hits])
    positive = np.sort(scores[scores > 0])[::-1]
    assert len(hits) == min(k, positive.size)
    np.testing.assert_allclose(got, scores[docs], rtol=0, atol=tol)
    assert np.all(np.diff(got) <= 0), "scores not descending"
    for a, b, sa, sb in zip(docs, docs[1:], got, got[1:], strict=False):
        if sa == sb:
            assert a < b, "a tie must go to the lower doc number"
    if hits:
        # Every document that clearly beats the last hit was returned.
        clearly_better = set(np.flatnonzero(scores > got[-1] + tol).tolist())
        assert clearly_better <= set(docs)
        # And the k-th score is the true k-th best score.
        assert got[-1] == pytest.approx(positive[len(hits) - 1], abs=tol)


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize("k", [1, 10, 1000])
def test_quantised_matches_brute_force_on_dequantised_matrix(random_docs, dtype, k):
    index = make_index(random_docs, dtype)
    s = Searcher(index, encoder=NoEncoder())
    queries = sp.vstack([random_queries(40, 500, seed=2), random_docs[:20]]).tocsr()
    expected = brute_force(queries, index.to_matrix())
    for row, hits in enumerate(s.search_vectors(queries, k)):
        assert_exact_top_k(hits, expected[row], k, tol=1e-5 * max(1.0, expected[row].max()))


def test_uint8_with_integer_query_weights_is_exact(random_docs):
    # Integer query weights times integer impacts are exact in float32: the ranking must
    # match brute force exactly, ties (frequent with 8-bit impacts) to the lower doc number.
    index = make_index(random_docs, "uint8")
    s = Searcher(index, encoder=NoEncoder())
    rng = np.random.default_rng(3)
    queries = random_queries(60, 500, seed=3)
    queries.data = rng.integers(1, 4, size=queries.nnz).astype(np.float32)
    impacts = sp.csc_matrix(
        (index.impacts.astype(np.float64), index.all_doc_ids(), index.indptr), shape=(200, 500)
    )
    exact = (queries.astype(np.float64) @ impacts.T).toarray()
    saw_tie = False
    for row, hits in enumerate(s.search_vectors(queries, 15)):
        ranking = expected_ranking(exact[row], 15)
        assert doc_numbers(hits) == ranking, row
        np.testing.assert_allclose(
            [h.score for h in hits], exact[row][ranking] * index.scale, rtol=1e-6
        )
        saw_tie |= len({h.score for h in hits}) < len(hits)
    assert saw_tie  # the test exercised tie-breaking


def test_search_of_a_saved_and_loaded_index(tmp_path, random_docs):
    built = make_index(random_docs, "uint8")
    built.save(tmp_path / "idx")
    loaded = Searcher(InvertedIndex.load(tmp_path / "idx"), encoder=NoEncoder())
    queries = random_queries(10, 500, seed=4)
    assert loaded.search_vectors(queries, 20) == Searcher(built, NoEncoder()).search_vectors(
        queries, 20
    )


# --------------------------------------------------------------------------- edge cases


def test_empty_query_vector_gives_no_hits(random_docs):
    s = searcher(random_docs)
    assert s.search_vectors(sp.csr_matrix((1, 500), dtype=np.float32), 10) == [[]]
    # Empty rows among non-empty ones keep their position.
    mixed = sp.vstack(
        [sp.csr_matrix((1, 500), dtype=np.float32), random_docs[1], sp.csr_matrix((1, 500))]
    ).tocsr()
    results = s.search_vectors(mixed, 5)
    assert [len(r) for r in results] == [0, 5, 0]


def test_no_queries_gives_no_results(random_docs):
    assert searcher(random_docs).search_vectors(sp.csr_matrix((0, 500)), 10) == []


def test_query_term_without_postings(random_docs):
    docs = random_docs.tolil()
    docs[:, 499] = 0
    docs = docs.tocsr()
    docs.eliminate_zeros()
    s = searcher(docs)
    assert s.index.indptr[499] == s.index.indptr[500]  # term 499 has no postings
    assert s.search_vectors(query(500, {499: 1.0}), 10) == [[]]
    # Combined with a real term, it changes nothing.
    with_term = s.search_vectors(query(500, {0: 1.0, 499: 5.0}), 10)
    assert with_term == s.search_vectors(query(500, {0: 1.0}), 10)
    assert with_term[0]


def test_query_term_beyond_the_index_vocabulary_is_ignored(random_docs):
    s = searcher(random_docs)
    wide = query(800, {3: 1.0, 650: 2.0, 799: 1.0})  # the index covers 500 terms
    assert s.search_vectors(wide, 10) == s.search_vectors(query(500, {3: 1.0}), 10)
    assert s.search_vectors(query(800, {650: 1.0}), 10) == [[]]


def test_k_larger_than_the_corpus_returns_only_positive_scores(random_docs):
    s = searcher(random_docs)
    q = query(500, {0: 1.0, 1: 1.0})
    expected = brute_force(q, random_docs)[0]
    hits = s.search_vectors(q, 10_000)[0]
    assert len(hits) == int((expected > 0).sum())
    assert 0 < len(hits) < random_docs.shape[0]
    assert all(h.score > 0 for h in hits)


def test_documents_without_terms_are_never_returned(random_docs):
    empty_docs = {i for i in range(200) if random_docs[i].nnz == 0}
    assert empty_docs == {0, 37, 74, 111, 148, 185}
    s = searcher(random_docs)
    everything = query(500, dict.fromkeys(range(500), 1.0))
    hits = s.search_vectors(everything, 1000)[0]
    assert len(hits) == 200 - len(empty_docs)
    assert not empty_docs & set(doc_numbers(hits))


def test_ties_go_to_the_lower_document_number():
    # 300 identical documents and a few better ones: the cut-off falls inside a large tie.
    rows = np.zeros((310, 4), dtype=np.float32)
    rows[:, 0] = 1.0
    rows[[17, 203, 305], 0] = 2.0
    rows[250, 1] = 1.0  # does not match term 0
    docs = sp.csr_matrix(rows)
    s = searcher(docs)
    hits = s.search_vectors(query(4, {0: 1.0}), 10)[0]
    assert doc_numbers(hits) == [17, 203, 305, 0, 1, 2, 3, 4, 5, 6]
    assert [h.score for h in hits] == [2.0] * 3 + [1.0] * 7
    # Deterministic from call to call.
    assert all(s.search_vectors(query(4, {0: 1.0}), 10)[0] == hits for _ in range(5))


def test_ties_in_quantised_scores():
    rows = np.zeros((50, 3), dtype=np.float32)
    rows[:, 0] = np.where(np.arange(50) % 2 == 0, 1.0, 1.001)  # equal after uint8 rounding
    rows[0, 1] = 255.0  # sets the scale, so 1.0 and 1.001 both become impact 1
    s = searcher(sp.csr_matrix(rows), "uint8")
    hits = s.search_vectors(query(3, {0: 1.0}), 5)[0]
    assert doc_numbers(hits) == [0, 1, 2, 3, 4]
    assert len({h.score for h in hits}) == 1


@pytest.mark.parametrize("k", [0, -3])
def test_non_positive_k_is_refused(random_docs, k):
    """It returned [] (issue 22): a k < 1 is a mistake, said in one line naming k."""
    from spire.core.errors import ArgumentError

    with pytest.raises(ArgumentError, match=f"^k: must be at least 1, not {k}$"):
        searcher(random_docs).search_vectors(random_docs[1:3], k)


def test_hits_carry_external_ids_and_python_floats(random_docs):
    index = InvertedIndex.from_matrix(
        random_docs, [f"PMID:{i}" for i in range(200)], INFO, "float32"
    )
    hits = Searcher(index, NoEncoder()).search_vectors(random_docs[5], 3)[0]
    assert hits[0].docid == "PMID:5"  # a document is its own best match here
    assert all(isinstance(h.score, float) and isinstance(h.docid, str) for h in hits)


def test_scores_are_rescaled_by_the_quantisation_scale():
    docs = sp.csr_matrix(np.array([[4.0, 0.0], [2.0, 1.0]], dtype=np.float32))
    s = searcher(docs, "uint8")
    hits = s.search_vectors(query(2, {0: 1.0, 1: 1.0}), 2)[0]
    assert doc_numbers(hits) == [0, 1]
    np.testing.assert_allclose([h.score for h in hits], [4.0, 3.0], atol=4.0 / 255)


# --------------------------------------------------------------------------- real encoders

CORPUS = {
    "paris": "Paris is the capital and largest city of France, on the river Seine.",
    "photo": "Photosynthesis lets green plants turn sunlight, water and carbon dioxide "
    "into sugar and oxygen.",
    "stocks": "The stock market fell sharply on Monday as investors sold bank shares.",
    "python": "Python is a popular programming language for data science and scripting.",
    "empty": "",
}
QUERIES = {
    "q-photo": "how do plants use sunlight photosynthesis",
    "q-paris": "what is the capital of france",
    "q-python": "python programming language",
}
EXPECTED = {"q-photo": "photo", "q-paris": "paris", "q-python": "python"}


@pytest.fixture(scope="module")
def siamese_searcher(siamese_encoder) -> Searcher:
    index = build_index(
        list(CORPUS), list(CORPUS.values()), siamese_encoder, "uint8", show_progress=False
    )
    return Searcher(index, siamese_encoder)


@pytest.fixture(scope="module")
def free_encoder(inference_free_encoder) -> InferenceFreeEncoder:
    """A private copy: fitting IDF on this corpus must not change the session encoder."""
    shared = inference_free_encoder
    return InferenceFreeEncoder(
        shared.name,
        shared.tokenizer,
        lambda: shared.document_encoder,
        query_max_length=shared.query_max_length,
        doc_max_length=shared.doc_max_length,
    )


@pytest.fixture(scope="module")
def free_searcher(free_encoder) -> Searcher:
    index = build_index(
        list(CORPUS), list(CORPUS.values()), free_encoder, "uint8", show_progress=False
    )
    return Searcher(index, free_encoder)


@pytest.fixture(params=["siamese", "inference-free"])
def real_searcher(request, siamese_searcher, free_searcher) -> Searcher:
    return siamese_searcher if request.param == "siamese" else free_searcher


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_blank_query_is_refused(real_searcher, text):
    """It returned [] (issue 22); the CLI and the server refuse it in the same words."""
    from spire.core.errors import ArgumentError

    with pytest.raises(ArgumentError, match="^query: must not be empty or only whitespace$"):
        real_searcher.search(text, 10)


def test_query_with_no_tokens_returns_nothing(real_searcher):
    assert real_searcher.search("\u200b", 10) == []  # not blank, but no word piece


@pytest.mark.parametrize("qid", list(QUERIES))
def test_relevant_document_ranks_first(real_searcher, qid):
    hits = real_searcher.search(QUERIES[qid], 3)
    assert hits, qid
    assert hits[0].docid == EXPECTED[qid]
    assert hits[0].score > 0
    assert "empty" not in [h.docid for h in real_searcher.search(QUERIES[qid], 10)]


def test_batch_search_with_a_dict(real_searcher):
    results = real_searcher.batch_search({**QUERIES, "q-none": "\u200b"}, k=2)
    assert list(results) == [*QUERIES, "q-none"]
    for qid, expected in EXPECTED.items():
        assert results[qid][0].docid == expected
        assert len(results[qid]) <= 2
    assert results["q-none"] == []


def test_batch_search_with_a_list(real_searcher):
    texts = list(QUERIES.values())
    results = real_searcher.batch_search(texts, k=3)
    assert list(results) == ["0", "1", "2"]
    for i, qid in enumerate(QUERIES):
        alone = real_searcher.search(texts[i], 3)
        # Batched encoding pads, so scores may differ in the last float bits.
        assert [h.docid for h in results[str(i)]] == [h.docid for h in alone]
        np.testing.assert_allclose(
            [h.score for h in results[str(i)]], [h.score for h in alone], rtol=1e-4
        )
        assert results[str(i)][0].docid == EXPECTED[qid]


def test_batch_search_of_nothing(real_searcher):
    assert real_searcher.batch_search([], k=3) == {}


def test_inference_free_idf_is_fitted_on_the_corpus(free_searcher, inference_free_encoder):
    idf = free_searcher.encoder.idf
    assert idf is not None and idf is not inference_free_encoder.idf
    np.testing.assert_array_equal(free_searcher.index.idf, idf)
    # A word of one document weighs more than one of several.
    tok = free_searcher.encoder.tokenizer
    [seine], [the] = tok(["seine", "the"], add_special_tokens=False)["input_ids"]
    assert idf[seine] > idf[the] > 0


def test_inference_free_index_searched_after_load_without_an_encoder(tmp_path, free_searcher):
    free_searcher.index.save(tmp_path / "idx")
    loaded = Searcher(InvertedIndex.load(tmp_path / "idx"))  # re-creates the encoder
    for text in QUERIES.values():
        assert loaded.search(text, 5) == free_searcher.search(text, 5)
    assert loaded.encoder.mode == "inference-free"
    np.testing.assert_array_equal(loaded.encoder.idf, free_searcher.index.idf)
