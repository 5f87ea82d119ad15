"""A small exact BM25 over a tokenised corpus: scores any (query, document) pair.

Used as a teacher and to mine hard negatives. Pyserini's LuceneSearcher returns top-k
lists, not the score of a chosen pair, and starting a JVM per teacher call is slow; so
this is Lucene's BM25 formula (k1=0.9, b=0.4 as in BEIR's "flat" runs,
idf = ln(1 + (N - df + 0.5) / (df + 0.5)), no (k1 + 1) factor) over lowercased word
tokens minus Lucene's English stopwords. Unlike Lucene's English analyzer it does not
stem, and it keeps exact document lengths, so its scores are close to but not equal to
`spire eval --baseline bm25`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from retrieval.topk import top_k_rows

# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET.
STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)
_WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


class BM25:
    """Term weights of every document, precomputed as a (docs, terms) csr matrix."""

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
        df = np.bincount(tf.indices, minlength=tf.shape[1])
        self.idf = np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        norm = k1 * (1 - b + b * lengths / avg)  # per document
        row_of = np.repeat(np.arange(n_docs), np.diff(tf.indptr))
        data = tf.data / (tf.data + norm[row_of]) * self.idf[tf.indices]
        self.weights = sp.csr_matrix((data.astype(np.float32), tf.indices, tf.indptr), tf.shape)

    def query_matrix(self, queries: Sequence[str]) -> sp.csr_matrix:
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

    def score_pairs(self, queries: Sequence[str], pairs: np.ndarray) -> np.ndarray:
        """Score of (query index, document index) for each row of `pairs`."""
        q = self.query_matrix(queries)[pairs[:, 0]]
        d = self.weights[pairs[:, 1]]
        return np.asarray(q.multiply(d).sum(axis=1), dtype=np.float32).ravel()

    def top_k(self, queries: Sequence[str], k: int) -> np.ndarray:
        """(queries, k) document indices, best first (ties by lower index); documents that
        match no query word follow, in index order, to fill k."""
        n_docs = self.weights.shape[0]
        k = min(k, n_docs)
        docs, _, counts = top_k_rows(self.query_matrix(queries) @ self.weights.T, k)
        for i, found in enumerate(counts.tolist()):
            if found < k:  # scores are never negative: the rest score 0
                pool = np.arange(min(n_docs, k + found))
                docs[i, found:] = pool[~np.isin(pool, docs[i, :found])][: k - found]
        return docs
