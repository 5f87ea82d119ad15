"""The teacher protocol: score chosen (query, document) pairs."""

from __future__ import annotations

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


def used(pairs: np.ndarray, column: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct indices in a column and each row's position among them, so a teacher
    encodes every text once however many pairs it appears in."""
    unique, inverse = np.unique(pairs[:, column], return_inverse=True)
    return unique, inverse
