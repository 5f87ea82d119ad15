"""Per-query normalisation and weighted aggregation of heterogeneous teacher scores.

Dense cosines live in [-1, 1], SPLADE dot products in the tens, BM25 in its own range:
summed raw, the widest range would decide. As in the paper (and OpenSearch's
BiEncoderWrapper), each teacher's scores are normalised over each query's candidates,
then mixed with weights and multiplied by `scale` (score_scale, 30 there), which sets
how peaked the softmax of the KL target is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EPS = 1e-6


def normalise(scores: np.ndarray, method: str = "minmax") -> np.ndarray:
    """Row-wise: "minmax" -> (s - min) / (max - min + eps) in [0, 1]; "zscore" ->
    (s - mean) / (std + eps). Rows are queries, columns their candidates."""
    scores = np.asarray(scores, dtype=np.float64)
    if method == "minmax":
        low = scores.min(axis=1, keepdims=True)
        high = scores.max(axis=1, keepdims=True)
        return (scores - low) / (high - low + EPS)
    if method == "zscore":
        return (scores - scores.mean(axis=1, keepdims=True)) / (
            scores.std(axis=1, keepdims=True) + EPS
        )
    raise ValueError(f"unknown normalisation {method!r}")


def ensemble_scores(
    per_teacher: Sequence[np.ndarray],
    weights: Sequence[float],
    method: str = "minmax",
    scale: float = 30.0,
) -> np.ndarray:
    """scale * sum_k w_k norm(S_k) / sum_k w_k, each S_k (queries, candidates)."""
    if len(per_teacher) != len(weights) or not per_teacher:
        raise ValueError("one weight per teacher, and at least one teacher")
    total = float(sum(weights))
    mixed = sum(w * normalise(s, method) for s, w in zip(per_teacher, weights, strict=True))
    return (scale * mixed / total).astype(np.float32)
