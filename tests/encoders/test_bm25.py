"""encoders/bm25.py: the one BM25 formula, checked against the textbook arithmetic."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from encoders.bm25 import BM25Encoder, bm25_idf, term_weights

COUNTS = [[2.0, 0.0, 1.0], [0.0, 3.0, 1.0], [1.0, 1.0, 0.0]]


def _counts() -> tuple[sp.csr_matrix, np.ndarray]:
    counts = sp.csr_matrix(np.array(COUNTS, dtype=np.float32))
    return counts, np.asarray(counts.sum(axis=1)).ravel()


def _by_hand(k1: float, b: float, scale, lucene: bool) -> np.ndarray:
    lengths = [sum(row) for row in COUNTS]
    avgdl = sum(lengths) / len(lengths)
    out = np.zeros((3, 3))
    for d, row in enumerate(COUNTS):
        for t, tf in enumerate(row):
            if tf:
                s = scale[t] if isinstance(scale, list) else scale
                k = k1 * (1 - b + b * lengths[d] / avgdl)
                out[d, t] = s * tf * (1 if lucene else k1 + 1) / (tf + k)
    return out


def test_term_weights_is_the_bm25_formula():
    counts, lengths = _counts()
    avgdl = float(lengths.mean())
    for b in (0.0, 0.4, 1.0):
        got = term_weights(counts.copy(), lengths, 0.9, b, avgdl, 1.5).toarray()
        np.testing.assert_allclose(got, _by_hand(0.9, b, 1.5, False), rtol=1e-6)
        idf = [0.5, 1.0, 2.0]
        got = term_weights(counts.copy(), lengths, 1.2, b, avgdl, np.array(idf), lucene=True)
        np.testing.assert_allclose(got.toarray(), _by_hand(1.2, b, idf, True), rtol=1e-6)


def test_bm25_idf_and_the_word_level_encoder():
    expected = [math.log(1 + 3.5 / 0.5), math.log(1 + 2.5 / 1.5), math.log(1 + 0.5 / 3.5)]
    np.testing.assert_allclose(bm25_idf(np.array([0, 1, 3]), 3), expected, rtol=1e-6)
    bm25 = BM25Encoder(["the cat sat", "a cat and a cat", "dog"], k1=0.9, b=0.4)
    assert set(bm25.vocab) == {"cat", "sat", "dog"}  # Lucene's stopwords are dropped
    scores = (bm25.encode_queries(["cat cat", "bird"]) @ bm25.weights.T).toarray()
    idf = math.log(1 + 1.5 / 2.5)
    avgdl = 5 / 3  # lengths 2, 2, 1 (words kept)
    one = idf * 1 / (1 + 0.9 * (1 - 0.4 + 0.4 * 2 / avgdl))
    two = idf * 2 / (2 + 0.9 * (1 - 0.4 + 0.4 * 2 / avgdl))
    np.testing.assert_allclose(scores[0], [2 * one, 2 * two, 0.0], rtol=1e-6)
    assert not scores[1].any()  # a word the corpus lacks matches nothing
