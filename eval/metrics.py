"""Metrics through ir-measures, so numbers match trec_eval, tie rule included."""

from __future__ import annotations

from collections.abc import Sequence

import ir_measures

from eval.data.run import ranked

DEFAULT_MEASURES = ("nDCG@10", "R@100", "RR@10")


def compute_metrics(
    qrels: dict[str, dict[str, int]],
    run: dict[str, dict[str, float]],
    measures: Sequence[str] = DEFAULT_MEASURES,
) -> dict[str, float]:
    """Mean of each measure over every judged query; a query with no hits scores 0.

    Averaging per-query values ourselves keeps that rule independent of how an
    ir-measures provider treats queries missing from the run. Ties are broken once, by
    `run.ranked` (trec_eval's rule), and each provider is given scores without ties, so
    that RR@10 (whose provider would keep run order) ranks as nDCG@10 and R@100 do.
    """
    parsed = [ir_measures.parse_measure(m) for m in measures]
    scored = {q: _rank_scores(docs) for q, docs in run.items() if q in qrels and docs}
    totals = dict.fromkeys(parsed, 0.0)
    if scored:
        for metric in ir_measures.iter_calc(parsed, qrels, scored):
            totals[metric.measure] += metric.value
    n = max(len(qrels), 1)
    return {name: totals[m] / n for name, m in zip(measures, parsed, strict=True)}


def _rank_scores(docs: dict[str, float]) -> dict[str, float]:
    order = ranked(docs)
    return {docid: float(len(order) - i) for i, (docid, _) in enumerate(order)}
