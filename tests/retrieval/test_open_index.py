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
from retrieval import Searcher, groups, open_index
from retrieval.batch import BatchSearch
from retrieval.groups import GroupSearch
from retrieval.segments import runs

VOCAB = 40
SIZES = (20, 8, 8, 20, 8, 2)  # the store's segments
INFO = EncoderInfo(name="test", mode="siamese")


def tied_vectors(n: int, seed: int) -> sp.csr_matrix:
    """Small integer weights: many equal scores, inside and across segments."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((n, VOCAB), dtype=np.float32)
    for i in range(n):
        terms = rng.choice(VOCAB, size=int(rng.integers(1, 6)), replace=False)
        rows[i, terms] = rng.integers(1, 4, size=terms.size)
    return sp.csr_matrix(rows)


def per_query_loop(snap, queries: sp.csr_matrix, k: int, **knobs) -> list[list[tuple[str, float]]]:
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
            d, s, n = Searcher(index, encoder=object(), **knobs).search_arrays(queries[row], depth)
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
    for batch, size in enumerate(SIZES[:-1]):
        ids = [f"d{batch}-{i}" for i in range(size)]
        store.add(ids, tied_vectors(size, batch))
    store.add(["d0-3", "d2-5"], tied_vectors(2, 9))  # replaced: deleted in their segments
    store.delete(["d1-0", "d1-1", "d3-7", "d4-7"])
    return store


# How the store's 6 segments are searched (see test_groups_are_runs_of_small_segments):
# one group of all (the default); groups of one and two, merged; big segments alone
# (asked for k + deleted) merged with groups; each alone; block-max, segment by segment.
LAYOUTS = {
    "one group": ({}, {}),
    "groups": ({"GROUP_DOCS": 16}, {}),
    "alone and grouped": ({"SMALL_SEGMENT_DOCS": 10}, {}),
    "each alone": ({"SMALL_SEGMENT_DOCS": 1}, {}),
    "blockmax": ({}, {"algorithm": "blockmax"}),
    "heaviest terms": ({"GROUP_DOCS": 16}, {"query_terms": 2}),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("k", [1, 3, 10, 100])
def test_segments_equal_the_per_query_loop(store, k, layout, monkeypatch):
    limits, knobs = LAYOUTS[layout]
    for name, value in limits.items():
        monkeypatch.setattr(groups, name, value)
    snap = store.snapshot()
    assert len(snap.segments) == 6 and snap.n_deleted == 6
    queries = sp.vstack([tied_vectors(25, 42), sp.csr_matrix((1, VOCAB))], format="csr")
    searcher = open_index(store, encoder=object(), **knobs)
    got = searcher.search_vectors(queries, k)
    want = per_query_loop(snap, queries, k, **knobs)
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


def test_each_part_is_searched_once_per_batch(store, monkeypatch):
    calls: list[tuple[str, int]] = []
    for engine in (BatchSearch, GroupSearch):
        run = engine.run

        def counted(self, queries, *args, _run=run, **kwargs):
            calls.append((type(self).__name__, queries.shape[0]))
            return _run(self, queries, *args, **kwargs)

        monkeypatch.setattr(engine, "run", counted)
    searcher = open_index(store, encoder=object())
    snap = searcher.snapshot()
    searcher.search_vectors(tied_vectors(30, 3), 5, snap=snap)
    assert calls == [("GroupSearch", 30)]  # small segments: one pass over all of them
    calls.clear()
    searcher.search_vectors(tied_vectors(30, 3), 5, snap=snap, algorithm="blockmax")
    assert calls == [("BatchSearch", 30)] * len(snap.segments)  # whole batches, no loop


def test_groups_are_runs_of_small_segments(store, monkeypatch):
    snap = store.snapshot()
    sizes = [s.segment.index.n_docs for s in snap.segments]
    assert sizes == list(SIZES) and [s.n_deleted for s in snap.segments] == [1, 2, 1, 1, 1, 0]
    assert runs(snap) == [(0, 6)]
    monkeypatch.setattr(groups, "GROUP_DOCS", 16)
    assert runs(snap) == [(0, 1), (1, 3), (3, 4), (4, 6)]  # a segment with deletions alone
    monkeypatch.undo()
    monkeypatch.setattr(groups, "SMALL_SEGMENT_DOCS", 10)
    assert runs(snap) == [(1, 3), (4, 6)]
    monkeypatch.setattr(groups, "SMALL_SEGMENT_DOCS", 2)
    assert runs(snap) == []  # the lone small segment has no deletions: no copy


def test_retrieval_loads_no_incremental_writer():
    code = (
        "import sys; from retrieval import open_index; "
        "print(sorted(m for m in sys.modules if m.startswith('indexing.incremental.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {m.rsplit(".", 1)[1] for m in ast.literal_eval(out.stdout)}
    assert "reader" in loaded
    assert not loaded & {"store", "committer", "merge", "transaction"}, loaded
