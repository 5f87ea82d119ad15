"""Property test: any sequence of adds, replaces, deletes, merges and reopens leaves the
segmented index holding exactly the model's documents, and search equals brute force."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from indexing import EncoderInfo, InvertedIndex
from indexing.incremental import MergePolicy, SegmentStore, WriteBatch, maybe_merge
from retrieval import open_index

VOCAB = 40
IDS = [f"d{i}" for i in range(25)]  # a small id space, so replaces and misses are common


def vector(seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    terms = np.sort(rng.choice(VOCAB, size=int(rng.integers(1, 6)), replace=False))
    return sp.csr_matrix(
        (rng.uniform(0.1, 2.0, terms.size).astype(np.float32), terms, [0, terms.size]),
        shape=(1, VOCAB),
    )


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="spire-prop-"))
        self.model = {f"d{i}": i for i in range(0, 25, 3)}
        ids = list(self.model)
        matrix = sp.vstack([vector(self.model[d]) for d in ids], format="csr")
        InvertedIndex.from_matrix(matrix, ids, EncoderInfo("t", "siamese"), "float32").save(
            self.tmp / "ix"
        )
        self.store = SegmentStore(self.tmp / "ix")

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    @rule(
        ids=st.lists(st.sampled_from(IDS), min_size=1, max_size=4, unique=True),
        seed=st.integers(0, 10**6),
    )
    def add(self, ids, seed):
        seeds = [seed + i for i in range(len(ids))]
        self.store.add(ids, sp.vstack([vector(s) for s in seeds], format="csr"))
        self.model.update(zip(ids, seeds, strict=True))

    @rule(ids=st.lists(st.sampled_from(IDS), min_size=1, max_size=4))
    def delete(self, ids):
        result = self.store.delete(ids)
        expect = []
        present = set(self.model)
        for docid in ids:
            expect.append(docid in present)
            present.discard(docid)
            self.model.pop(docid, None)
        assert result.results[0].found == expect

    @rule(
        add_ids=st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True),
        del_ids=st.lists(st.sampled_from(IDS), min_size=1, max_size=3),
        seed=st.integers(0, 99),
    )
    def mixed_batch(self, add_ids, del_ids, seed):
        seeds = [seed * 100 + i for i in range(len(add_ids))]
        matrix = sp.vstack([vector(s) for s in seeds], format="csr")
        self.store.apply(WriteBatch().add(add_ids, matrix).delete(del_ids))
        self.model.update(zip(add_ids, seeds, strict=True))
        for docid in del_ids:
            self.model.pop(docid, None)

    @rule()
    def merge_all(self):
        self.store.merge()
        assert len(self.store.snapshot().segments) <= 1

    @rule()
    def merge_by_policy(self):
        maybe_merge(self.store, MergePolicy(small_docs=4, fanout=2, max_deleted_fraction=0.2))

    @rule()
    def reopen(self):
        self.store = SegmentStore(self.tmp / "ix")

    @invariant()
    def holds_the_model(self):
        snap = self.store.snapshot()
        assert sorted(snap.live_ids()) == sorted(self.model)
        ids = sorted(self.model)
        queries = sp.vstack([vector(10**7 + i) for i in range(4)], format="csr")
        got = open_index(self.store, encoder=object()).search_vectors(queries, 5)
        if not ids:
            assert got == [[] for _ in range(4)]
            return
        docs = sp.vstack([vector(self.model[d]) for d in ids], format="csr")
        scores = (queries @ docs.T).toarray()
        for row, hits in zip(scores, got, strict=True):
            want = sorted((s for s in row if s > 0), reverse=True)[:5]
            assert np.allclose([h.score for h in hits], want, rtol=1e-5)
            for h in hits:
                assert np.isclose(row[ids.index(h.docid)], h.score, rtol=1e-5)


StoreMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_store_against_model = StoreMachine.TestCase
