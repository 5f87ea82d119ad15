"""Dense teacher: cosine of mean-pooled, L2-normalised bi-encoder embeddings."""

from __future__ import annotations

import numpy as np

from .base import used


class DenseTeacher:
    def __init__(self, model: str) -> None:
        from encoders.dense import load_dense_encoder

        self.spec = f"dense:{model}"
        self.encoder = load_dense_encoder(model)

    def cache_key(self) -> str:
        e = self.encoder
        return f"{self.spec}|q{e.query_max_length}|d{e.doc_max_length}"

    def score(self, queries: list[str], docs: list[str], pairs: np.ndarray) -> np.ndarray:
        q_ids, q_row = used(pairs, 0)
        d_ids, d_row = used(pairs, 1)
        q = self.encoder.encode_queries([queries[i] for i in q_ids])
        d = self.encoder.encode_documents([docs[i] for i in d_ids])
        return np.einsum("ij,ij->i", q[q_row], d[d_row]).astype(np.float32)
