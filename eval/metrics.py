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
    """Mean of each measure over every judged query; a query with no hits scores 0.

    Averaging per-query values ourselves keeps that rule independent of how an
    ir-measures provider treats queries missing from the run.
    """
    parsed = [ir_measures.parse_measure(m) for m in measures]
    scored = {q: docs for q, docs in run.items() if q in qrels and docs}
    totals = dict.fromkeys(parsed, 0.0)
    if scored:
        for metric in ir_measures.iter_calc(parsed, qrels, scored):
            totals[metric.measure] += metric.value
    n = max(len(qrels), 1)
    return {name: totals[m] / n for name, m in zip(measures, parsed, strict=True)}
