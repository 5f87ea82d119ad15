"""BM25, the one formula, and BM25 as an encoder.

    weight(t, d) = scale * tf (k1 + 1) / (tf + k1 (1 - b + b * dl / avgdl))
    idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))

`term_weights` is the formula over a (documents, terms) count matrix. Its callers:
the lexical part of an inference-free document vector (encoders/lexical.py: word pieces,
`scale` the lexical weight, a fixed avgdl), the IDF of inference-free queries
(encoders/idf.py) and `BM25Encoder` below, the word-level BM25 that training uses as a
teacher and a miner (training/bm25.py). An encoder gives documents and queries as sparse
matrices over its vocabulary, so a query-by-document product is its BM25 score.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET.
STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)
_WORD = re.compile(r"\w+")


def bm25_idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """idf = ln(1 + (N - df + 0.5) / (df + 0.5)), the BM25 form, always positive."""
    df = df.astype(np.float64)
    return np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)


def term_weights(
    counts: sp.csr_matrix,
    lengths: np.ndarray,
    k1: float,
    b: float,
    avgdl: float,
    scale: float | np.ndarray = 1.0,
    *,
    lucene: bool = False,
) -> sp.csr_matrix:
    """The formula for each stored (document, term) entry of `counts` (float32 term
    frequencies), in place; `lengths` is each row's dl, `scale` a number or one value
    per term (column). b = 0 needs no lengths or avgdl. `lucene` drops the (k1 + 1)
    factor, as Lucene does, in float32 throughout (training's BM25: its scores are
    cached, so its arithmetic stays what it was)."""
    tf = counts.data
    norm = 1.0
    if b > 0:
        norm = 1 - b + b * np.repeat(lengths, np.diff(counts.indptr)) / avgdl
    if not np.isscalar(scale):
        scale = np.asarray(scale)[counts.indices]
    if lucene:
        weights = tf / (tf + k1 * norm) * scale
    else:
        saturation = np.full(len(tf), k1, dtype=np.float64) * norm
        weights = scale * tf * (k1 + 1) / (tf + saturation)
    counts.data = weights.astype(np.float32)
    return counts


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens minus Lucene's English stopwords (no stemming)."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


class BM25Encoder:
    """Lucene's BM25 (no (k1 + 1) factor) fitted on a corpus of word-tokenised texts:
    `weights` holds every document's term weights, a (documents, terms) csr matrix, and
    `encode_queries` gives term counts over the same vocabulary."""

    def __init__(self, texts: Sequence[str], k1: float = 0.9, b: float = 0.4) -> None:
        self.vocab: dict[str, int] = {}
        rows, cols = [], []
        for i, text in enumerate(texts):
            for token in tokenize(text):
                rows.append(i)
                cols.append(self.vocab.setdefault(token, len(self.vocab)))
        n_docs = len(texts)
        tf = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(n_docs, max(len(self.vocab), 1)),
        )
        tf.sum_duplicates()
        lengths = np.asarray(tf.sum(axis=1)).ravel()
        avg = lengths.mean() if n_docs and lengths.mean() > 0 else 1.0
        self.idf = bm25_idf(np.bincount(tf.indices, minlength=tf.shape[1]), n_docs)
        self.weights = term_weights(tf, lengths, k1, b, avg, self.idf, lucene=True)

    def encode_queries(self, queries: Sequence[str]) -> sp.csr_matrix:
        """(queries, terms) term counts; a repeated query term counts again, as a repeated
        clause does in Lucene. Words absent from the corpus are dropped."""
        rows, cols = [], []
        for i, query in enumerate(queries):
            for token in tokenize(query):
                if token in self.vocab:
                    rows.append(i)
                    cols.append(self.vocab[token])
        return sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(queries), self.weights.shape[1]),
        )
