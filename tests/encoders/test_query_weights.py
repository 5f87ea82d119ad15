"""The inference-free query side (encoders/inference_free.py): cached word pieces and a
table of query weights must give the vectors that weighting each query's ids gives."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from encoders import load_encoder
from encoders.query_tokenizer import BackendTokenizer

QUERIES = [
    "What is the role of statins in heart disease?",
    "the the the of of and",  # repeated pieces count once
    "?!",  # punctuation only: nothing to search
    "",
    "Crème brûlée, 東京 and [MASK]",  # not plain ASCII: the backend's path
    "x" * 300,
]


def reference(encoder, texts: list[str]) -> sp.csr_matrix:
    """Each query's distinct ids with positive IDF and a letter or digit, weighted by IDF
    (what encode_queries computed before the cached path)."""
    budget = max(encoder.query_max_length - 2, 1)
    ids = encoder.tokenizer(texts, add_special_tokens=False, truncation=True, max_length=budget)
    rows = []
    for seq in ids["input_ids"]:
        terms = np.unique(np.asarray(seq, dtype=np.int64))
        terms = terms[(encoder.idf[terms] > 0) & encoder.worded_pieces[terms]]
        rows.append(sp.csr_matrix((encoder.idf[terms], terms, [0, len(terms)]),
                                  shape=(1, encoder.vocab_size)))  # fmt: skip
    return sp.vstack(rows, format="csr").astype(np.float32)


@pytest.fixture(scope="module")
def encoder(splade_tiny_path):
    enc = load_encoder(str(splade_tiny_path), "inference-free")
    rng = np.random.default_rng(1)
    enc.idf = rng.uniform(-0.5, 3.0, enc.vocab_size).astype(np.float32)  # some <= 0
    return enc


def test_same_vectors_as_weighting_the_ids(encoder):
    assert isinstance(encoder.tokenizer, BackendTokenizer)
    for batch in (QUERIES, QUERIES[:1], QUERIES[2:4]):
        got, want = encoder.encode_queries(batch), reference(encoder, batch)
        assert got.shape == want.shape and got.dtype == np.float32
        assert np.array_equal(got.indptr, want.indptr)
        assert np.array_equal(got.indices, want.indices)
        assert np.array_equal(got.data, want.data)


def test_a_new_idf_table_is_followed(encoder):
    before = encoder.encode_queries(QUERIES[:1])
    old = encoder.idf
    try:
        encoder.idf = old * 2
        after = encoder.encode_queries(QUERIES[:1])
    finally:
        encoder.idf = old
    assert np.array_equal(after.indices, before.indices)
    assert np.allclose(after.data, before.data * 2)
