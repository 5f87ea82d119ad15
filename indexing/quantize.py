"""Impact quantisation: weight ~= impact * scale, with one global scale per index."""

from __future__ import annotations

import numpy as np

from spire.core.choices import IMPACT_DTYPES

DTYPES = {name: np.dtype(name).type for name in IMPACT_DTYPES}


def quantize(weights: np.ndarray, dtype: str) -> tuple[np.ndarray, float]:
    """Round weights onto the integer grid of `dtype`; returns (impacts, scale)."""
    scale = scale_for(float(weights.max()) if weights.size else 0.0, dtype)
    return impacts_at(weights, dtype, scale), scale


def scale_for(peak: float, dtype: str) -> float:
    """The scale that maps the largest weight, `peak`, to the top of `dtype`'s grid
    (1.0 for float32, which keeps weights as they are)."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown impact dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    if dtype == "float32":
        return 1.0
    top = float(np.iinfo(DTYPES[dtype]).max)
    return peak / top if peak > 0 else 1.0


def impacts_at(weights: np.ndarray, dtype: str, scale: float) -> np.ndarray:
    """The weights on `dtype`'s grid at a given scale (a streamed index's shards are
    quantised one at a time with the scale of the whole corpus)."""
    if dtype == "float32":
        return weights.astype(np.float32, copy=False)
    top = float(np.iinfo(DTYPES[dtype]).max)
    return np.clip(np.rint(weights / scale), 0, top).astype(DTYPES[dtype])
