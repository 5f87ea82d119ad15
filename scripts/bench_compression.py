"""Packed against plain doc ids: the index folder's bytes a posting, and the search time of
each layout, timed interleaved (best of --repeats) so that load from other processes moves
both alike. Every setting must return identical hits and scores from both layouts.

    .venv/bin/python scripts/bench_compression.py                    # SciFact, both query modes
    .venv/bin/python scripts/bench_compression.py --corpora synthetic --docs 100000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_search import corpora  # noqa: E402
from bench_systems import folder_bytes  # noqa: E402

from eval.experiments.baselines.lucene_impact import integer_queries  # noqa: E402
from indexing import EncoderInfo, InvertedIndex  # noqa: E402
from retrieval import Searcher  # noqa: E402


def settings(n_docs: int) -> list[tuple[str, dict]]:
    prune = max(100, n_docs // 20)
    return [
        ("exact (taat)", {"algorithm": "taat"}),
        ("exact (block-max)", {"algorithm": "blockmax"}),
        ("two-phase m=40 rescore=100", {"query_terms": 40, "rescore": 100}),
        (f"two-phase prune={prune} rescore=200", {"prune_postings": prune, "rescore": 200}),
    ]


def best_times(searchers: dict, queries, k: int, repeats: int) -> dict[str, float]:
    for s in searchers.values():
        s.search_arrays(queries[:5], k)  # compile, derive block maxima and pruned lists
    best = dict.fromkeys(searchers, float("inf"))
    for _ in range(repeats):
        for name, s in searchers.items():
            start = time.perf_counter()
            s.search_arrays(queries, k)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def bench_corpus(args, name, make) -> list[dict]:
    docs, queries = make()
    queries = integer_queries(queries)
    queries = queries[np.diff(queries.indptr) > 0]
    info = EncoderInfo(name="splade-tiny", mode="siamese")
    ids = [str(i) for i in range(docs.shape[0])]
    plain = InvertedIndex.from_matrix(docs, ids, info, "uint8", compression="none")
    packed = plain.with_compression("bitpack")
    layouts = {"plain": plain, "packed": packed}
    disk = {}
    with tempfile.TemporaryDirectory() as tmp:
        for layout, index in layouts.items():
            disk[layout] = folder_bytes(index.save(Path(tmp) / layout)) / index.n_postings
    print(f"\n== {name}: {plain.n_postings:,} postings; on disk {disk['plain']:.2f} B/posting "
          f"plain, {disk['packed']:.2f} packed", flush=True)  # fmt: skip
    rows = []
    for label, knobs in settings(plain.n_docs):
        searchers = {layout: Searcher(index, encoder=object(), **knobs)
                     for layout, index in layouts.items()}  # fmt: skip
        results = {layout: s.search_arrays(queries, args.k) for layout, s in searchers.items()}
        for a, b in zip(results["plain"], results["packed"], strict=True):
            np.testing.assert_array_equal(a, b)  # the same hits and scores, to the bit
        best = best_times(searchers, queries, args.k, args.repeats)
        row = {"corpus": name, "setting": label, "n_queries": queries.shape[0],
               "plain_qps": queries.shape[0] / best["plain"],
               "packed_qps": queries.shape[0] / best["packed"],
               "time_ratio": best["packed"] / best["plain"],
               "plain_disk_bytes_per_posting": disk["plain"],
               "packed_disk_bytes_per_posting": disk["packed"]}  # fmt: skip
        print(f"{label:40s} plain {row['plain_qps']:10,.0f} QPS | packed "
              f"{row['packed_qps']:10,.0f} QPS | packed time / plain {row['time_ratio']:.2f}x",
              flush=True)  # fmt: skip
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="+", default=["scifact"])
    parser.add_argument("--docs", type=int, default=100_000, help="synthetic corpus size")
    parser.add_argument("--queries", type=int, default=200, help="synthetic queries")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()
    rows = [row for name, make in corpora(args) for row in bench_corpus(args, name, make)]
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
