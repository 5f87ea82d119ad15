"""What the server answers: searches (plain, fused, explained), encodings and stats.

Each request reads one snapshot of the backend, so its hits, explanations and
generation agree even while writes commit.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from retrieval import SegmentHit
from retrieval.fusion.common import ranked
from retrieval.fusion.rrf import DEFAULT_K as RRF_K

from .dense_side import fuse_one
from .schemas import EncodeRequest, FusionRequest, SearchRequest

if TYPE_CHECKING:
    from .server import ServerState


def run_search(state: ServerState, request: SearchRequest) -> dict:
    start = time.perf_counter()
    snap = state.backend.snapshot()  # one generation for the whole request
    texts = request.texts()
    vectors = state.backend.encoder(snap).encode_queries(texts)
    details: list[list[dict | None]] | None = None
    if request.fusion is None:
        located = state.backend.search(vectors, request.k, snap)
    else:
        located, details = fused_search(state, request, texts, vectors, snap)
    took = time.perf_counter() - start
    state.stats.record("search_compute" if request.fusion is None else "fused_compute", took)
    results = []
    for row, (text, hits) in enumerate(zip(texts, located, strict=True)):
        lo, hi = vectors.indptr[row], vectors.indptr[row + 1]
        out = []
        for rank, hit in enumerate(hits, start=1):
            item = {"rank": rank, "docid": hit.docid, "score": hit.score}
            if request.explain:
                terms, weights = vectors.indices[lo:hi], vectors.data[lo:hi]
                item["explanation"] = [
                    {"token": c.token, "term": c.term, "query_weight": c.query_weight,
                     "doc_weight": c.doc_weight, "score": c.score}
                    for c in state.backend.explain(snap, terms, weights, hit)
                ]  # fmt: skip
                if details is not None:
                    item["fusion"] = details[row][rank - 1]
            out.append(item)
        results.append({"query": text, "hits": out})
    answer = {"results": results, "generation": snap.generation, "took_ms": took * 1000.0}
    if request.fusion is not None:
        answer["fusion"] = _fusion_summary(state, request, snap)
    return answer


def fused_search(state: ServerState, request: SearchRequest, texts, vectors, snap):
    """Each query's sparse and dense runs (`depth` hits each, one snapshot), fused by
    `retrieval.fusion.fuse`; returns the hits (located, for explain) and, per hit, each
    side's rank and score."""
    fusion: FusionRequest = request.fusion
    depth = request.depth()
    sparse_hits = state.backend.search(vectors, depth, snap)
    dense_runs = state.dense.search(texts, depth, snap)
    weights = (fusion.sparse_weight, fusion.dense_weight)
    located, details = [], []
    for hits, dense in zip(sparse_hits, dense_runs, strict=True):
        sparse = {h.docid: h.score for h in hits}
        where = {h.docid: (h.segment, h.doc) for h in hits}
        fused = fuse_one(sparse, dense, fusion.method, weights, request.k, fusion.options())
        # Each side's ranks as fusion sees them (ties: the smaller id first).
        sides = [
            (name, run, {d: r for r, d in enumerate(ranked(run), 1)})
            for name, run in (("sparse", sparse), ("dense", dense))
        ]
        row, detail = [], []
        for docid, score in fused:
            pos = where.get(docid) or snap.locate(docid)  # dense hits are live: never None
            row.append(SegmentHit(docid, score, pos[0], pos[1]))
            if request.explain:
                detail.append(
                    {name: {"rank": ranks.get(docid), "score": run.get(docid)}
                     for name, run, ranks in sides}
                )  # fmt: skip
        located.append(row)
        details.append(detail)
    return located, details


def _fusion_summary(state: ServerState, request: SearchRequest, snap) -> dict:
    fusion = request.fusion
    return {
        "method": fusion.method,
        "sparse_weight": fusion.sparse_weight,
        "dense_weight": fusion.dense_weight,
        "depth": request.depth(),
        "rrf_k": (fusion.rrf_k if fusion.rrf_k is not None else float(RRF_K))
        if fusion.method == "rrf"
        else None,
        "dense_covered": int(state.dense.covered(snap).sum()),
    }


def encode(state: ServerState, request: EncodeRequest) -> dict:
    encoder = state.backend.encoder(state.backend.snapshot())
    if request.kind == "query":
        row = encoder.encode_queries([request.text])
    else:
        row = encoder.encode_documents([request.text])
    order = sorted(
        zip(row.indices.tolist(), row.data.tolist(), strict=True), key=lambda p: (-p[1], p[0])
    )
    tokenizer = getattr(encoder, "tokenizer", None)
    ids = [t for t, _ in order]
    names = tokenizer.convert_ids_to_tokens(ids) if tokenizer else [str(t) for t in ids]
    vector = {str(name): round(w, 6) for name, (_, w) in zip(names, order, strict=True)}
    return {"kind": request.kind, "terms": len(vector), "vector": vector}


def stats(state: ServerState) -> dict:
    snap = state.backend.snapshot()
    return {
        **state.backend.info(snap),
        "commits": state.committer.commits if state.committer else 0,
        "merges": state.merger.merges if state.merger else 0,
        "uptime_s": round(time.time() - state.started, 3),
        "read_only": state.read_only,
        "dense": state.dense.stats(snap) if state.dense is not None else None,
        "latency": state.stats.summary(),
    }
