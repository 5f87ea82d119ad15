"""Sparse teachers: a siamese SPLADE model, and BM25."""

from __future__ import annotations

import numpy as np

from ..bm25 import BM25
from .base import EncoderTeacher, corpus_key, used


class SpladeTeacher(EncoderTeacher):
    """Dot product of SPLADE query and document vectors (siamese mode)."""

    def __init__(self, model: str) -> None:
        from encoders import load_encoder

        self.spec = f"splade:{model}"
        self.encoder = load_encoder(model, "siamese")

    def pair_dot(self, q, d) -> np.ndarray:
        return np.asarray(q.multiply(d).sum(axis=1), dtype=np.float32).ravel()


class BM25Teacher:
    """BM25 with the statistics of `corpus` (the training corpus). A scored document that
    is not in it joins it, so every pair has a row; one that is, counts once."""

    spec = "bm25"
    show_progress = False  # BM25 scores every pair in seconds

    def __init__(self, corpus: list[str], k1: float = 0.9, b: float = 0.4) -> None:
        self.corpus = list(corpus)
        self.k1, self.b = k1, b
        self._key = f"bm25|k1={k1}|b={b}|corpus={corpus_key(self.corpus)}"

    def cache_key(self) -> str:
        return self._key

    def score(self, queries: list[str], docs: list[str], pairs: np.ndarray) -> np.ndarray:
        texts = list(self.corpus)
        row_of = {t: i for i, t in enumerate(texts)}
        d_ids, d_row = used(pairs, 1)
        rows = []
        for i in d_ids:
            if docs[i] not in row_of:
                row_of[docs[i]] = len(texts)
                texts.append(docs[i])
            rows.append(row_of[docs[i]])
        bm25 = BM25(texts, self.k1, self.b)
        at = np.stack([pairs[:, 0], np.asarray(rows, dtype=np.int64)[d_row]], axis=1)
        return bm25.score_pairs(queries, at)
