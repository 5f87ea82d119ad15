"""The evaluation view's numbers: per-query nDCG@10 and R@100 of each system and their
difference, from `eval.metrics.compute_metrics` (the function `spire eval` reports
with), on runs as deep as `spire eval`'s, so the means equal its numbers.

Runs are kept per index generation; per-query values are kept until that query's qrels
change, so a new grade costs one query's metrics, not the whole table's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from eval.data.run import Run, ranked
from eval.metrics import compute_metrics

from .data import Collection
from .systems import RunFile, System

MEASURES = ("nDCG@10", "R@100")
# The deepest cutoff of MEASURES. Each query's run is cut to its best CUTOFF documents in
# trec_eval's order (`ranked`, the order compute_metrics ranks by), which leaves both
# measures unchanged and makes ir-measures' work ten times smaller than at depth 1000.
CUTOFF = 100
SORT_KEYS = ("qid", "query", "a_ndcg", "b_ndcg", "d_ndcg", "a_recall", "b_recall", "d_recall")
HISTOGRAM_BINS = 20  # over [-1, 1]: 0.1 wide


@dataclass
class _Cache:
    generation: object = None
    run: Run | None = None
    values: dict | None = None  # qid -> (its qrels, {measure: value})


class Evaluation:
    def __init__(self, collection: Collection, systems: list[System | RunFile]) -> None:
        self.collection = collection
        self.systems = systems
        self._caches = [_Cache() for _ in systems]
        self._lock = threading.Lock()

    def _run(self, i: int) -> Run:
        system, cache = self.systems[i], self._caches[i]
        generation = system.generation()
        if cache.run is None or cache.generation != generation:
            run = Run(system.run(self.collection.queries))
            if self.collection.shares_id_space:  # BEIR's rule, as `spire eval` applies it
                run = run.without_identical_ids()
            run = Run({q: dict(ranked(docs)[:CUTOFF]) for q, docs in run.items()})
            cache.run, cache.generation, cache.values = run, generation, {}
        return cache.run

    def per_query(self, i: int) -> dict[str, dict[str, float]]:
        """qid -> {measure: value} for system i over every judged query."""
        qrels = self.collection.qrels()
        run = self._run(i)
        values = self._caches[i].values
        out = {}
        for qid, judged in qrels.items():
            kept = values.get(qid)
            if kept is None or kept[0] != judged:
                one = compute_metrics({qid: judged}, {qid: run.get(qid, {})}, MEASURES)
                kept = values[qid] = (dict(judged), one)
            out[qid] = kept[1]
        return out

    def table(self, sort: str = "d_ndcg", descending: bool = True) -> dict:
        """Rows for the view, sorted; the means; the histogram of nDCG@10 differences."""
        with self._lock:
            values = [self.per_query(i) for i in range(len(self.systems))]
        rows = []
        for qid in values[0]:
            a = values[0][qid]
            row = {"qid": qid, "query": self.collection.queries.get(qid, ""),
                   "a_ndcg": a["nDCG@10"], "a_recall": a["R@100"]}  # fmt: skip
            if len(values) > 1:
                b = values[1][qid]
                row.update(b_ndcg=b["nDCG@10"], b_recall=b["R@100"],
                           d_ndcg=b["nDCG@10"] - a["nDCG@10"],
                           d_recall=b["R@100"] - a["R@100"])  # fmt: skip
            rows.append(row)
        if not rows or sort not in rows[0]:
            sort = "qid"
        rows.sort(key=lambda r: (r[sort], r["qid"]), reverse=descending)
        means = [
            {m: sum(v[m] for v in per.values()) / max(len(per), 1) for m in MEASURES}
            for per in values
        ]
        diffs = [r["d_ndcg"] for r in rows] if len(values) > 1 else []
        return {"rows": rows, "means": means, "histogram": histogram(diffs), "n": len(rows)}


def histogram(diffs: list[float], bins: int = HISTOGRAM_BINS) -> dict | None:
    """Counts of the nonzero per-query differences in `bins` equal bins over [-1, 1] (ties
    are counted apart: they would dwarf the rest), and the inline SVG's bar geometry
    (the template draws it; every value in it is a number)."""
    if not diffs:
        return None
    counts = [0] * bins
    for d in diffs:
        if d != 0:
            counts[min(bins - 1, max(0, int((d + 1.0) / 2.0 * bins)))] += 1
    width, height, top = 400, 120, max(max(counts), 1)
    step = width / bins
    bars = [
        {"x": round(i * step, 2), "w": round(step - 1, 2), "h": round(height * c / top, 2),
         "y": round(height - height * c / top, 2), "count": c,
         "lo": round(-1 + 2 * i / bins, 2), "hi": round(-1 + 2 * (i + 1) / bins, 2)}
        for i, c in enumerate(counts)
    ]  # fmt: skip
    return {"bars": bars, "width": width, "height": height,
            "wins": sum(d > 0 for d in diffs), "losses": sum(d < 0 for d in diffs),
            "ties": sum(d == 0 for d in diffs)}  # fmt: skip
