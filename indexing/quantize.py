"""Impact quantisation: weight ~= impact * scale, with one global scale per index."""

from __future__ import annotations

import numpy as np

from spire.core.choices import IMPACT_DTYPES

DTYPES = {name: np.dtype(name).type for name in IMPACT_DTYPES}


def quantize(weights: np.ndarray, dtype: str) -> tuple[np.ndarray, float]:
    """Round weights onto the integer grid of `dtype`; returns (impacts, scale)."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown impact dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    if dtype == "float32":
        return weights.astype(np.float32, copy=False), 1.0
    top = float(np.iinfo(DTYPES[dtype]).max)
    peak = float(weights.max()) if weights.size else 0.0
    scale = peak / top if peak > 0 else 1.0
    impacts = np.clip(np.rint(weights / scale), 0, top).astype(DTYPES[dtype])
    return impacts, scale
