"""Inference-free sparse retrieval: a SPLADE model encodes documents; a query is its
distinct tokens weighted by IDF, so queries need no model at all.

With `lexical` on, each document vector also holds its own word pieces weighted by
saturated term frequency (encoders/lexical.py): every score gains a BM25-like term.

A query piece with no letter or digit ("?", "-", "##.") is not searched: like a BM25
analyzer's, punctuation is no evidence of topic (docs/encoding.md#query-pieces)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING
from unicodedata import category

import numpy as np
import scipy.sparse as sp

from .bm25 import bm25_idf
from .idf import document_frequencies
from .lexical import Lexical, with_lexical

if TYPE_CHECKING:  # torch: a searcher never loads the document model
    from .splade import SpladeEncoder

NO_LEXICAL = Lexical()


class InferenceFreeEncoder:
    mode = "inference-free"

    def __init__(
        self,
        name: str,
        tokenizer,
        load_document_encoder: Callable[[], SpladeEncoder],
        *,
        idf: np.ndarray | None = None,
        query_max_length: int = 64,
        doc_max_length: int = 256,
        lexical: Lexical = NO_LEXICAL,
    ) -> None:
        self.name = name
        self.tokenizer = tokenizer
        self._load_document_encoder = load_document_encoder
        self._document_encoder: SpladeEncoder | None = None
        self.idf = idf
        self.query_max_length = query_max_length
        self.doc_max_length = doc_max_length
        self.lexical = lexical
        self.vocab_size = len(tokenizer)
        self._worded: np.ndarray | None = None
        self._weights_of: np.ndarray | None = None  # the IDF table _weights was made of
        self._weights = np.zeros(0, dtype=np.float32)
        self._weights_list: list[float] = []
        self.idf_from: str | None = None if idf is None else "given"

    @property
    def document_encoder(self) -> SpladeEncoder:
        # Loaded on first use: a searcher over an existing index never loads the model.
        if self._document_encoder is None:
            self._document_encoder = self._load_document_encoder()
        return self._document_encoder

    @property
    def stats(self):
        """The document encoder's summary of its last `encode` (documents only)."""
        from .batching import EncodeStats

        return self._document_encoder.stats if self._document_encoder else EncodeStats()

    @property
    def worded_pieces(self) -> np.ndarray:
        """Per vocabulary id: does the piece hold a letter or digit (searchable)?"""
        if self._worded is None:
            self._worded = worded_pieces(self.tokenizer)
        return self._worded

    def whole_words(self, text: str) -> np.ndarray:
        """Vocabulary ids of the query's words that the tokenizer keeps as one piece."""
        encoding = self.tokenizer(text, add_special_tokens=False)
        words: dict[int, list[int]] = {}
        for token, word in zip(encoding["input_ids"], encoding.word_ids(), strict=True):
            words.setdefault(word, []).append(token)
        whole = [ids[0] for ids in words.values() if len(ids) == 1]
        return np.asarray([t for t in whole if self.worded_pieces[t]], dtype=np.int64)

    def fit_idf(self, texts: Sequence[str]) -> np.ndarray:
        """Set the query-side IDF from a corpus, counting df over truncated documents."""
        df = document_frequencies(self.tokenizer, texts, self.doc_max_length)
        return self.fit_idf_counts(df, len(texts))

    def fit_idf_counts(self, df: np.ndarray, n_docs: int) -> np.ndarray:
        """Set the query-side IDF from document frequencies counted over `n_docs`
        documents (a streamed corpus sums them shard by shard)."""
        self.idf = bm25_idf(df, n_docs)
        self.idf_from = "corpus"
        return self.idf

    def encode_documents(self, texts: Sequence[str], show_progress: bool = False) -> sp.csr_matrix:
        docs = self.document_encoder.encode_documents(texts, show_progress=show_progress)
        return with_lexical(docs, self.tokenizer, texts, self.lexical)

    def encode_queries(self, texts: Sequence[str], show_progress: bool = False) -> sp.csr_matrix:
        if self.idf is None:
            raise RuntimeError("inference-free encoder has no IDF table: call fit_idf() first")
        # Same token budget as a siamese query: max_length includes [CLS] and [SEP].
        budget = max(self.query_max_length - 2, 1)
        if not texts:
            return sp.csr_matrix((0, self.vocab_size), dtype=np.float32)
        texts = list(texts)
        if hasattr(self.tokenizer, "query_ids"):  # spire's backend tokenizer: cached words
            ids = self.tokenizer.query_ids(texts, budget)
        else:
            ids = self.tokenizer(texts, add_special_tokens=False, truncation=True,
                                 max_length=budget)["input_ids"]  # fmt: skip
        return self._weighted(ids)

    def _weighted(self, ids: list[list[int]]) -> sp.csr_matrix:
        """Each row's distinct searchable pieces, weighted by IDF, in ascending id order.
        Plain Python over a list of the weights: a query holds a few dozen ids, where
        numpy's per-call cost would be most of the work."""
        weights = self.query_weights_list
        cols: list[int] = []
        indptr = [0]
        for seq in ids:
            cols += [t for t in sorted(set(seq)) if weights[t] > 0]
            indptr.append(len(cols))
        data = np.array([weights[t] for t in cols], dtype=np.float32)
        return sp.csr_matrix(
            (data, np.array(cols, dtype=np.int32), np.array(indptr, dtype=np.int32)),
            shape=(len(ids), self.vocab_size),
        )

    @property
    def query_weights(self) -> np.ndarray:
        """Per vocabulary id, the query weight: its IDF where the piece is searchable (a
        word piece with positive IDF), else 0. Made once per IDF table."""
        if self._weights_of is not self.idf:
            idf = np.asarray(self.idf, dtype=np.float32)
            self._weights = np.where((idf > 0) & self.worded_pieces, idf, 0).astype(np.float32)
            self._weights_list = self._weights.tolist()
            self._weights_of = self.idf
        return self._weights

    @property
    def query_weights_list(self) -> list[float]:
        """query_weights as a Python list (indexing it costs no numpy scalar)."""
        self.query_weights  # noqa: B018 - brings the list up to date with the IDF table
        return self._weights_list


def worded_pieces(tokenizer) -> np.ndarray:
    """True for each vocabulary piece that holds a letter, digit or combining mark (of a
    word in an abugida) once '##' is cut."""
    worded = np.zeros(len(tokenizer), dtype=bool)
    for piece, i in tokenizer.get_vocab().items():
        worded[i] = any(category(c)[0] in "LMN" for c in piece.removeprefix("##"))
    return worded
