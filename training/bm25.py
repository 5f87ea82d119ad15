"""A small exact BM25 over a tokenised corpus: scores any (query, document) pair
(the formula and the tokenizer: encoders/bm25.py).

Used as a teacher and to mine hard negatives. Pyserini's LuceneSearcher returns top-k
lists, not the score of a chosen pair, and starting a JVM per teacher call is slow; so
this is Lucene's BM25 formula (k1=0.9, b=0.4 as in BEIR's "flat" runs,
idf = ln(1 + (N - df + 0.5) / (df + 0.5)), no (k1 + 1) factor) over lowercased word
tokens minus Lucene's English stopwords. Unlike Lucene's English analyzer it does not
stem, and it keeps exact document lengths, so its scores are close to but not equal to
`spire eval --baseline bm25`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from encoders.bm25 import BM25Encoder
from retrieval.topk import top_k_rows


class BM25(BM25Encoder):
    """encoders/bm25.py's word-level BM25 fitted on a corpus, scoring chosen pairs and
    ranking the corpus for each query."""

    def query_matrix(self, queries: Sequence[str]) -> sp.csr_matrix:
        return self.encode_queries(queries)

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
