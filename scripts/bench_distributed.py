"""Distributed encoding and Milvus serving, measured for docs/scaling.md, on a slice of
../shared/data/wiki-paragraphs:

    .venv/bin/python scripts/bench_distributed.py --docs 1200 --queries 300 --out DIR

Prints one JSON object (and writes it, with a bar chart, under --out):

- ray: docs/s of a single-process build with one torch thread, and of `--engine ray`
  with 1 and 2 workers of one thread each on a local cluster of 2 CPUs (each timed from
  the job's start to the final index: actor start-up and model loads included; Ray's
  own start-up timed apart), the speedup of 2 workers over 1, and index bytes per doc;
- milvus: insert docs/s into milvus-lite, then QPS and recall@10 against spire's exact
  top 10 for Milvus, spire exact, and spire approximate (heaviest 5 query terms, then
  the best 100 rescored with all), over the MS MARCO dev queries shipped with the corpus;
- the 1-minute load average before and after each part: the machine is shared.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WIKI = REPO.parent / "shared" / "data" / "wiki-paragraphs"


def load_slice(n_docs: int, n_queries: int) -> tuple[list[str], list[str], list[str]]:
    """The first n_docs paragraphs (title + text) and the first n_queries queries."""
    ids, texts = [], []
    with gzip.open(WIKI / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            ids.append(doc["_id"])
            texts.append(f"{doc.get('title', '')} {doc['text']}".strip())
            if len(ids) == n_docs:
                break
    queries = []
    with open(WIKI / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            queries.append(json.loads(line)["text"])
            if len(queries) == n_queries:
                break
    return ids, texts, queries


def load() -> float:
    return os.getloadavg()[0]


def bench_ray(ids, texts, work: Path, shard_docs: int) -> dict:
    import ray
    import torch

    from encoders import load_encoder
    from indexing import build_index
    from indexing.distributed import RayOptions, build_index_ray

    out = {"load_before": load()}
    encoder = load_encoder("splade-tiny", "inference-free", idf_source="corpus")
    encoder.idf = encoder.fit_idf(texts)  # once, outside every timing below
    torch.set_num_threads(1)
    start = time.perf_counter()
    cpu = time.process_time()
    local = build_index(ids, texts, encoder, show_progress=False)
    out["local_1_thread_docs_per_s"] = len(ids) / (time.perf_counter() - start)
    out["local_1_thread_docs_per_cpu_s"] = len(ids) / (time.process_time() - cpu)
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    out["ray_start_s"] = time.perf_counter() - start
    for workers in (1, 2):
        options = RayOptions(num_workers=workers, shard_docs=shard_docs)
        folder = work / f"ray-{workers}"
        _, run = build_index_ray(ids, texts, encoder, "splade-tiny", folder, options,
                                 show_progress=False)  # fmt: skip
        out[f"ray_{workers}_workers_docs_per_s"] = len(ids) / run["ray_seconds"]
        out[f"ray_{workers}_workers_docs_per_worker_cpu_s"] = len(ids) / run["worker_cpu_seconds"]
        out[f"ray_{workers}_workers_shards"] = run["shards"]
        out[f"load_after_{workers}_workers"] = load()
    ray.shutdown()
    out["speedup_2_over_1"] = out["ray_2_workers_docs_per_s"] / out["ray_1_workers_docs_per_s"]
    disk = sum(p.stat().st_size for p in (work / "ray-2").rglob("*") if p.is_file())
    out["index_disk_bytes_per_doc"] = disk / len(ids)
    out["postings_per_doc"] = local.postings_per_doc()
    return out


def recall_at_10(exact, found) -> float:
    """Mean share of the exact top 10 found, over the queries with an exact hit."""
    shares = [
        len({h.docid for h in a[:10]} & {h.docid for h in b[:10]}) / len(a[:10])
        for a, b in zip(exact, found, strict=True)
        if a
    ]
    return sum(shares) / max(len(shares), 1)


def timed_qps(search, vectors, one_at_a_time: bool) -> tuple[list, float]:
    """Results and queries per second; one query per call, or the whole batch at once."""
    start = time.perf_counter()
    if one_at_a_time:
        hits = [search(vectors[i : i + 1])[0] for i in range(vectors.shape[0])]
    else:
        hits = search(vectors)
    return hits, vectors.shape[0] / (time.perf_counter() - start)


def bench_milvus(folder: Path, queries: list[str], uri: str) -> dict:
    from indexing.milvus_export import export_folder
    from retrieval.milvus_search import open_milvus

    out = {"load_before": load()}
    exported = export_folder(str(folder), uri, "wiki", overwrite=True, show_progress=False)
    out["insert_docs_per_s"] = exported["docs_per_second"]
    local, remote = open_milvus(folder, uri, "wiki")
    vectors = local.encoder_for(local.snapshot()).encode_queries(queries)
    local.search_vectors(vectors[:1], 10)  # the kernels load before any timing
    systems = {
        "spire_exact": lambda v: local.search_vectors(v, 10),
        "spire_approx_5_terms_rescore_100": lambda v: local.search_vectors(
            v, 10, query_terms=5, rescore=100
        ),
        "milvus": lambda v: remote.search(v, 10),
    }
    exact = None
    for name, search in systems.items():
        hits, qps = timed_qps(search, vectors, one_at_a_time=True)
        _, batch_qps = timed_qps(search, vectors, one_at_a_time=False)
        exact = hits if exact is None else exact
        out[name] = {
            "qps_one_query_per_call": qps,
            "qps_batch": batch_qps,
            "recall_at_10_vs_exact": recall_at_10(exact, hits),
        }
    out["load_after"] = load()
    return out


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ray = results["ray"]
    names = ["local, 1 thread", "ray, 1 worker", "ray, 2 workers"]
    values = [ray["local_1_thread_docs_per_s"], ray["ray_1_workers_docs_per_s"],
              ray["ray_2_workers_docs_per_s"]]  # fmt: skip
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(names, values, color=["#888", "#4a7", "#27a"])
    ax.set_ylabel("documents / s")
    ax.set_title(
        f"splade-tiny encoding, {results['docs']} wiki paragraphs "
        f"(1-min load {ray['load_before']:.0f}-{ray['load_after_2_workers']:.0f} on 2 cores)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=1200)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--shard-docs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None, help="Write results.json and a plot.")
    args = parser.parse_args()
    ids, texts, queries = load_slice(args.docs, args.queries)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results = {"docs": len(ids), "queries": len(queries)}
        results["ray"] = bench_ray(ids, texts, work, args.shard_docs)
        results["milvus"] = bench_milvus(work / "ray-2", queries, str(work / "milvus.db"))
    print(json.dumps(results, indent=2))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        plot(results, args.out / "ray-encoding.png")


if __name__ == "__main__":
    main()
