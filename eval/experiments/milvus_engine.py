"""`spire eval --engine milvus`: the sparse system's index exported into a Milvus
collection and searched there with the same query vectors, next to spire's own run.

The collection (default `spire_eval`) is replaced on each evaluation; the report keeps
spire's statistics and adds Milvus's insert and search times and the share of queries
whose top 10 is the same as spire's (tie-aware: retrieval.milvus_search.same_top_k).
"""

from __future__ import annotations

import time

from eval.data.datasets import Dataset
from eval.data.run import Run
from indexing import InvertedIndex
from indexing.milvus import connect, export_matrix, record_for
from retrieval import Hit
from retrieval.milvus_search import MilvusSearcher, same_top_k

EVAL_COLLECTION = "spire_eval"


def milvus_run(
    index: InvertedIndex,
    encoder,
    data: Dataset,
    k: int,
    uri: str,
    ours,  # SystemResult of spire's own search of `index`
    collection: str = EVAL_COLLECTION,
    show_progress: bool = False,
):
    """Export `index` to `collection` at `uri`, search the judged queries there."""
    record = record_for(index.encoder, index.vocab_size, index.idf, n_docs=index.n_docs)
    client = connect(uri)
    exported = export_matrix(
        client, uri, collection, index.docids, index.to_matrix(), record,
        overwrite=True, show_progress=show_progress,
    )  # fmt: skip
    searcher = MilvusSearcher(uri, collection)
    qids = list(data.queries)
    vectors = encoder.encode_queries([data.queries[q] for q in qids])
    start = time.perf_counter()
    hits = searcher.search(vectors, k)
    seconds = time.perf_counter() - start
    run = Run.from_hits(dict(zip(qids, hits, strict=True)))
    run.dataset = data.name
    same = sum(
        same_top_k(_hits(ours.run, q), found, 10) for q, found in zip(qids, hits, strict=True)
    )
    stats = {
        **ours.stats,
        "engine": "milvus",
        "milvus_insert_docs_per_second": exported["docs_per_second"],
        "milvus_search_ms_per_query": 1000 * seconds / max(len(qids), 1),
        "top10_identical_to_spire": same / max(len(qids), 1),
    }
    stats.pop("compile_s", None)
    stats.pop("search_ms_per_query", None)
    return type(ours)(ours.system, run, stats)


def _hits(run: Run, qid: str) -> list[Hit]:
    scores = run.get(qid, {})
    return [Hit(d, s) for d, s in sorted(scores.items(), key=lambda p: (-p[1], p[0]))]
