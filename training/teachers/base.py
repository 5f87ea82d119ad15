"""The teacher protocol: score chosen (query, document) pairs."""

from __future__ import annotations

import hashlib
from typing import Protocol

import numpy as np


class Teacher(Protocol):
    spec: str  # e.g. "dense:all-MiniLM-L6-v2"; part of the cache key

    def cache_key(self) -> str:
        """Everything besides the pairs that changes the scores (model, lengths, params)."""
        ...

    def score(self, queries: list[str], docs: list[str], pairs: np.ndarray) -> np.ndarray:
        """(n,) float32 score of queries[pairs[i, 0]] against docs[pairs[i, 1]]."""
        ...


def corpus_key(corpus: list[str]) -> str:
    """Size and digest of a corpus, for the cache key of a teacher fitted on it."""
    digest = hashlib.sha256("\x1e".join(corpus).encode("utf-8")).hexdigest()[:16]
    return f"{len(corpus)}:{digest}"


def used(pairs: np.ndarray, column: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct indices in a column and each row's position among them, so a teacher
    encodes every text once however many pairs it appears in."""
    unique, inverse = np.unique(pairs[:, column], return_inverse=True)
    return unique, inverse


class EncoderTeacher:
    """A teacher that encodes each distinct query and document once with `self.encoder`
    and scores a pair by the dot product of the two vectors (`pair_dot`)."""

    spec: str
    encoder: object
    show_progress: bool = False  # scoring thousands of pairs takes minutes on a CPU

    def cache_key(self) -> str:
        e = self.encoder
        return f"{self.spec}|q{e.query_max_length}|d{e.doc_max_length}"

    def score(self, queries: list[str], docs: list[str], pairs: np.ndarray) -> np.ndarray:
        q_ids, q_row = used(pairs, 0)
        d_ids, d_row = used(pairs, 1)
        e = self.encoder
        q = self._encode([queries[i] for i in q_ids], e.query_max_length, "queries")
        d = self._encode([docs[i] for i in d_ids], e.doc_max_length, "documents")
        return self.pair_dot(q[q_row], d[d_row])

    def _encode(self, texts: list[str], max_length: int, what: str):
        # The bar names the teacher: scoring runs minutes before the first training step.
        label = f"teacher {self.spec}: {what}"
        return self.encoder.encode(texts, max_length, self.show_progress, label)

    def pair_dot(self, q, d) -> np.ndarray:
        """(n,) float32 row-wise dot products of two (n, dim) matrices."""
        raise NotImplementedError
