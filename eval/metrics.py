"""Metrics through ir-measures, so numbers match trec_eval."""

from __future__ import annotations

from collections.abc import Sequence

import ir_measures

DEFAULT_MEASURES = ("nDCG@10", "R@100", "RR@10")


def compute_metrics(
    qrels: dict[str, dict[str, int]],
    run: dict[str, dict[str, float]],
    measures: Sequence[str] = DEFAULT_MEASURES,
) -> dict[str, float]:
    """Mean of each measure over the judged queries; a query with no hits scores 0."""
    parsed = [ir_measures.parse_measure(m) for m in measures]
    # ir-measures averages only over queries present in the run; a judged query
    # that retrieved nothing must still count, as a zero.
    run = {q: (run.get(q) or {}) for q in qrels}
    scored = {q: docs for q, docs in run.items() if docs}
    values = ir_measures.calc_aggregate(parsed, qrels, scored) if scored else {}
    share = len(scored) / max(len(qrels), 1)
    return {
        name: float(values.get(m, 0.0)) * share for name, m in zip(measures, parsed, strict=True)
    }
