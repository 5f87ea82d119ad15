"""Z-score fusion: per query, standardise each run's scores, then a weighted sum.

norm(s) = (s - mean) / std over the documents the run retrieved for that query, with the
population standard deviation (ddof=0, as ranx's zmuv).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from eval.data.run import Run

from .common import Fused, Scores, weighted_sum


def zscore_normalise(docs: Scores) -> dict[str, float]:
    """A query whose scores all tie gets 0.0 for each (the mean), not 0/0 = NaN."""
    n = len(docs)
    if n == 0:
        return {}
    # Test the tie on the scores themselves: a computed std of equal floats can come out
    # a rounding error above 0 and blow the zeros up to +-1.
    if min(docs.values()) == max(docs.values()):
        return dict.fromkeys(docs, 0.0)
    mean = math.fsum(docs.values()) / n
    std = math.sqrt(math.fsum((s - mean) ** 2 for s in docs.values()) / n)
    return {d: (s - mean) / std for d, s in docs.items()}


def zscore(runs: Sequence[Run], weights: Sequence[float]) -> Fused:
    # A document missing from a run adds nothing from that run (see weighted_sum), which
    # for z-scores is the same as scoring it at that run's mean.
    return weighted_sum(runs, weights, zscore_normalise)
