"""open_index: one batched Searcher over 1..N segments, equal to the removed per-query
loop (SegmentedSearcher) hit for hit, ties included."""

from __future__ import annotations

import ast
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from indexing import InvertedIndex
from indexing.incremental import SegmentStore
from indexing.manifest import EncoderInfo
from retrieval import Searcher, open_index

VOCAB = 40
INFO = EncoderInfo(name="test", mode="siamese")


def tied_vectors(n: int, seed: int) -> sp.csr_matrix:
    """Small integer weights: many equal scores, inside and across segments."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((n, VOCAB), dtype=np.float32)
    for i in range(n):
        terms = rng.choice(VOCAB, size=int(rng.integers(1, 6)), replace=False)
        rows[i, terms] = rng.integers(1, 4, size=terms.size)
    return sp.csr_matrix(rows)


def per_query_loop(snap, queries: sp.csr_matrix, k: int) -> list[list[tuple[str, float]]]:
    """The removed SegmentedSearcher's algorithm: each query alone, each segment asked for
    k + its deleted count, deleted dropped, merged by (score desc, segment, number)."""
    out = []
    for row in range(queries.shape[0]):
        docs, scores, where = [], [], []
        for pos, seg in enumerate(snap.segments):
            index = seg.segment.index
            depth = min(k + seg.n_deleted, index.n_docs)
            if depth <= 0:
                continue
            d, s, n = Searcher(index, encoder=object()).search_arrays(queries[row], depth)
            d, s = d[0, : n[0]], s[0, : n[0]]
            if seg.mask is not None:
                d, s = d[~seg.mask[d]], s[~seg.mask[d]]
            docs.append(d[:k])
            scores.append(s[:k])
            where.append(np.full(min(len(d), k), pos))
        if not docs:
            out.append([])
            continue
        d, s, w = np.concatenate(docs), np.concatenate(scores), np.concatenate(where)
        order = np.lexsort((d, w, -s))[:k]
        ids = [
            snap.segments[p].segment.index.docids[i]
            for p, i in zip(w[order], d[order], strict=True)
        ]
        out.append(list(zip(ids, s[order].tolist(), strict=True)))
    return out


@pytest.fixture(params=["float32", "uint8"])
def store(tmp_path, request) -> SegmentStore:
    store = SegmentStore.create(tmp_path / "ix", INFO, VOCAB, impact_dtype=request.param)
    for batch in range(5):
        ids = [f"d{batch}-{i}" for i in range(12)]
        store.add(ids, tied_vectors(12, batch))
    store.add(["d0-3", "d2-5"], tied_vectors(2, 9))  # replaced: deleted in their segments
    store.delete(["d1-0", "d1-1", "d3-7", "d4-11"])
    return store


@pytest.mark.parametrize("k", [1, 3, 10, 100])
def test_segments_equal_the_per_query_loop(store, k):
    snap = store.snapshot()
    assert len(snap.segments) == 6 and snap.n_deleted == 6
    queries = sp.vstack([tied_vectors(25, 42), sp.csr_matrix((1, VOCAB))], format="csr")
    got = open_index(store, encoder=object()).search_vectors(queries, k)
    want = per_query_loop(snap, queries, k)
    assert [[(h.docid, h.score) for h in row] for row in got] == want
    assert got[-1] == [] and max(len(row) for row in got) >= min(k, 10)


def test_a_plain_folder_is_searched_as_the_plain_index(tmp_path):
    docs = tied_vectors(50, 1)
    InvertedIndex.from_matrix(docs, [f"p{i}" for i in range(50)], INFO).save(tmp_path / "ix")
    queries = tied_vectors(20, 2)
    plain = Searcher(InvertedIndex.load(tmp_path / "ix"), encoder=object())
    opened = open_index(tmp_path / "ix", encoder=object())
    assert opened.search_vectors(queries, 7) == plain.search_vectors(queries, 7)
    for a, b in zip(opened.search_arrays(queries, 7), plain.search_arrays(queries, 7), strict=True):
        assert np.array_equal(a, b)


def test_each_segment_is_searched_once_per_batch(store):
    searcher = open_index(store, encoder=object())
    snap = searcher.snapshot()
    calls: list[int] = []
    for engine in searcher.engines.of(snap):
        run = engine.run

        def counted(queries, *args, _run=run, **kwargs):
            calls.append(queries.shape[0])
            return _run(queries, *args, **kwargs)

        engine.run = counted
    searcher.search_vectors(tied_vectors(30, 3), 5, snap=snap)
    assert calls == [30] * len(snap.segments)  # whole batches, no per-query loop


def test_retrieval_loads_no_incremental_writer():
    code = (
        "import sys; from retrieval import open_index; "
        "print(sorted(m for m in sys.modules if m.startswith('indexing.incremental.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {m.rsplit(".", 1)[1] for m in ast.literal_eval(out.stdout)}
    assert "reader" in loaded
    assert not loaded & {"store", "committer", "merge", "transaction"}, loaded
