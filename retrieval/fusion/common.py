"""What the fusion methods share: a run's ranking and a weighted sum of normalised scores."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

from eval.data.run import Run

Scores = Mapping[str, float]
Fused = dict[str, dict[str, float]]


def ranked(docs: Scores) -> list[str]:
    """Doc ids best first; ties go to the smaller doc id, the order `Run.save_trec` writes,
    so a run fuses the same before and after a round trip through a TREC file."""
    return sorted(docs, key=lambda d: (-docs[d], d))


def weighted_sum(
    runs: Sequence[Run], weights: Sequence[float], normalise: Callable[[Scores], Scores]
) -> Fused:
    """sum_i w_i * normalise(run_i[q])[d], per query.

    A document missing from a run adds nothing from that run (it is not given the run's
    minimum or any imputed score), as in Pyserini's and OpenSearch's fusion.
    """
    return add_up(
        (qid, docid, weight * score)
        for run, weight in zip(runs, weights, strict=True)
        for qid, docs in run.items()
        for docid, score in normalise(docs).items()
    )


def add_up(contributions: Iterable[tuple[str, str, float]]) -> Fused:
    """Sum (query, doc, share) triples per (query, doc) with math.fsum.

    fsum is exact before its one rounding, so the total does not depend on the order of
    the runs: documents whose shares are a permutation of each other tie exactly, and
    the tie-break by doc id, not float noise, orders them.
    """
    parts: dict[str, dict[str, list[float]]] = {}
    for qid, docid, share in contributions:
        parts.setdefault(qid, {}).setdefault(docid, []).append(share)
    return {qid: {d: math.fsum(s) for d, s in docs.items()} for qid, docs in parts.items()}
