"""Dense teacher: cosine of mean-pooled, L2-normalised bi-encoder embeddings."""

from __future__ import annotations

import numpy as np

from .base import EncoderTeacher


class DenseTeacher(EncoderTeacher):
    def __init__(self, model: str) -> None:
        from encoders.dense import load_dense_encoder

        self.spec = f"dense:{model}"
        self.encoder = load_dense_encoder(model)

    def pair_dot(self, q: np.ndarray, d: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", q, d).astype(np.float32)
