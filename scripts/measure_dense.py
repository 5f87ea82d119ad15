"""Measure dense retrieval (mean-pooled bi-encoder + exact faiss search) on BEIR folders.

    .venv/bin/python scripts/measure_dense.py --data ../shared/data/scifact \
        ../shared/data/cranfield ../shared/data/cisi [--model all-MiniLM-L6-v2]

Identical ids follow `eval`'s rule by default: BEIR's "drop a hit whose id is the query's
id" on SciFact and the like, kept on Cranfield, CISI and other collections whose query
and document ids are separate numberings. Prints one table row per dataset, then JSON.
"""

from __future__ import annotations

import argparse
import json
import time

from eval.data.datasets import load_dataset
from eval.experiments.baselines.dense import dense_run
from eval.metrics import DEFAULT_MEASURES, compute_metrics


def measure(path: str, model: str, split: str, identical_ids: str, k: int) -> dict:
    data = load_dataset(path, split)
    start = time.perf_counter()
    run = dense_run(data, model, k=k, show_progress=True)
    seconds = time.perf_counter() - start
    drop = data.shares_id_space if identical_ids == "auto" else identical_ids == "drop"
    if drop:
        run = run.without_identical_ids()
    return {
        "dataset": data.name,
        "split": split,
        "model": model,
        "n_docs": len(data.corpus),
        "n_queries": len(data.queries),
        "identical_ids_dropped": drop,
        "seconds": round(seconds, 1),
        "metrics": {m: round(v, 4) for m, v in compute_metrics(data.qrels, run).items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, help="BEIR folders")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--split", default="test")
    parser.add_argument("--identical-ids", choices=("auto", "drop", "keep"), default="auto")
    parser.add_argument("-k", type=int, default=1000)
    args = parser.parse_args()

    results = [measure(d, args.model, args.split, args.identical_ids, args.k) for d in args.data]
    print(f"\n| dataset | model | ids dropped | {' | '.join(DEFAULT_MEASURES)} | seconds |")
    print("|---" * (4 + len(DEFAULT_MEASURES)) + "|")
    for r in results:
        values = " | ".join(f"{v:.4f}" for v in r["metrics"].values())
        print(
            f"| {r['dataset']} ({r['split']}) | {r['model']} | "
            f"{'yes' if r['identical_ids_dropped'] else 'no'} | {values} | {r['seconds']} |"
        )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
