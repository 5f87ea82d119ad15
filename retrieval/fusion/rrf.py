"""Reciprocal rank fusion (Cormack, Clarke & Buettcher, SIGIR 2009).

score(d) = sum_i w_i / (k + rank_i(d)), with rank_i(d) the 1-based rank of d in run i.
Only ranks matter, so runs whose scores live on different scales fuse without
normalisation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from eval.data.run import Run
from spire.core.errors import SpireError

from .common import Fused, add_up, ranked

DEFAULT_K = 60  # the paper's value, and Pyserini's, ranx's and OpenSearch's default


def rrf(runs: Sequence[Run], weights: Sequence[float], k: float = DEFAULT_K) -> Fused:
    # A document missing from a run adds nothing from that run.
    if not isinstance(k, int | float) or isinstance(k, bool) or not math.isfinite(k) or k < 0:
        raise SpireError(f"rrf: k must be a number >= 0, got {k!r}")
    return add_up(
        (qid, docid, weight / (k + rank))
        for run, weight in zip(runs, weights, strict=True)
        for qid, docs in run.items()
        for rank, docid in enumerate(ranked(docs), start=1)
    )
