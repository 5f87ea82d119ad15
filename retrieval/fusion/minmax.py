"""Min-max fusion: per query, rescale each run's scores to [0, 1], then a weighted sum.

norm(s) = (s - min) / (max - min) over the documents the run retrieved for that query.
"""

from __future__ import annotations

from collections.abc import Sequence

from eval.data.run import Run

from .common import Fused, Scores, weighted_sum


def minmax_normalise(docs: Scores) -> dict[str, float]:
    """A query whose scores all tie (one hit, say) gets 1.0 for each: they are the run's
    best, as OpenSearch's min_max gives a single result."""
    if not docs:
        return {}
    low, high = min(docs.values()), max(docs.values())
    if high == low:
        return dict.fromkeys(docs, 1.0)
    span = high - low
    return {d: (s - low) / span for d, s in docs.items()}


def minmax(runs: Sequence[Run], weights: Sequence[float]) -> Fused:
    # A document missing from a run adds nothing from that run (see weighted_sum).
    return weighted_sum(runs, weights, minmax_normalise)
