"""Hard negatives: rank each query's candidates with BM25 or our own sparse index, drop its
positives, and draw negatives from the top of what is left."""

from __future__ import annotations

import numpy as np

from spire.core.errors import SpireError

from .bm25 import BM25
from .data import Labelled


def rank_candidates(
    data: Labelled,
    method: str = "bm25",
    depth: int = 30,
    model: str = "splade-tiny",
    show_progress: bool = False,
) -> dict[str, list[str]]:
    """qid -> up to `depth` document ids, best first, positives removed.

    "bm25": training/bm25.py over the corpus. "index": the corpus is encoded with
    `model` (inference-free mode), indexed with indexing.build_index and searched with
    retrieval.Searcher, so negatives are the documents our own system confuses.
    "data": the negatives the data came with (triples), in their given order.
    """
    qids = list(data.queries)
    extra = max((len(data.qrels.get(q, {})) for q in qids), default=0)
    if method == "data":
        if not data.negatives:
            raise SpireError(f"{data.name}: negatives_from 'data' but the data has no negatives")
        ranked = {q: data.negatives.get(q, []) for q in qids}
    elif method == "bm25":
        top = BM25(data.doc_texts).top_k([data.queries[q] for q in qids], depth + extra)
        ranked = {q: [data.doc_ids[d] for d in row] for q, row in zip(qids, top, strict=True)}
    elif method == "index":
        ranked = _index_ranking(data, qids, depth + extra, model, show_progress)
    else:
        raise SpireError(f"unknown negatives source {method!r}")
    return {q: [d for d in ranked[q] if d not in data.qrels.get(q, {})][:depth] for q in qids}


def _index_ranking(
    data: Labelled, qids: list[str], k: int, model: str, show_progress: bool
) -> dict[str, list[str]]:
    from encoders import load_encoder
    from indexing import build_index
    from retrieval import Searcher

    encoder = load_encoder(model, "inference-free")
    index = build_index(data.doc_ids, data.doc_texts, encoder, show_progress=show_progress)
    hits = Searcher(index, encoder).batch_search({q: data.queries[q] for q in qids}, k=k)
    return {q: [h.docid for h in hits[q]] for q in qids}


def sample_negatives(
    data: Labelled, ranked: dict[str, list[str]], n: int, seed: int
) -> dict[str, list[str]]:
    """qid -> n negatives: a seeded draw from its ranked candidates, topped up with random
    corpus documents (never its positives) when fewer than n were ranked."""
    rng = np.random.default_rng(seed)
    out = {}
    for qid in sorted(ranked):
        pool = ranked[qid]
        picks = [pool[i] for i in sorted(rng.choice(len(pool), min(n, len(pool)), replace=False))]
        positives = data.qrels.get(qid, {})
        while len(picks) < n:
            if len(data.doc_ids) <= len(positives) + len(picks):
                raise SpireError(f"{data.name}: too few documents for {n} negatives per query")
            doc = data.doc_ids[int(rng.integers(len(data.doc_ids)))]
            if doc not in positives and doc not in picks:
                picks.append(doc)
        out[qid] = picks
    return out
