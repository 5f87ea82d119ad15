"""Segmented index: adds, replaces, deletes, merges, snapshots, checksums and the base index."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import scipy.sparse as sp

from indexing import EncoderInfo, InvertedIndex
from indexing.incremental import (
    GroupCommitter,
    MergePolicy,
    SegmentStore,
    WriteBatch,
    as_index,
    maybe_merge,
)
from indexing.incremental import merge as merge_module
from retrieval import Searcher, open_index
from spire.core.errors import SpireError

VOCAB = 80
INFO = EncoderInfo(name="test", mode="siamese")


def vectors(n: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    rows = np.zeros((n, VOCAB), dtype=np.float32)
    for i in range(n):
        terms = rng.choice(VOCAB, size=int(rng.integers(1, 8)), replace=False)
        rows[i, terms] = rng.uniform(0.1, 3.0, size=terms.size)
    return sp.csr_matrix(rows)


def base_index(
    root, n: int = 30, dtype: str = "float32", seed: int = 0, compression: str = "bitpack"
) -> dict:
    docs = vectors(n, seed)
    ids = [f"b{i}" for i in range(n)]
    InvertedIndex.from_matrix(docs, ids, INFO, dtype, compression=compression).save(root)
    return {docid: docs[i] for i, docid in enumerate(ids)}


def live(store: SegmentStore) -> set[str]:
    return set(store.snapshot().live_ids())


class NoEncoder:
    def __getattr__(self, name):
        raise AssertionError(f"no encoder expected ({name})")


def brute_force(model: dict, queries: sp.csr_matrix, k: int) -> list[list[tuple[str, float]]]:
    ids = sorted(model)
    if not ids:
        return [[] for _ in range(queries.shape[0])]
    scores = (queries @ sp.vstack([model[i] for i in ids]).T).toarray()
    out = []
    for row in scores:
        order = sorted((i for i in range(len(ids)) if row[i] > 0), key=lambda i: -row[i])
        out.append([(ids[i], float(row[i])) for i in order[:k]])
    return out


def assert_same_hits(got, want) -> None:
    for g, w in zip(got, want, strict=True):
        assert [h.score for h in g] == pytest.approx([s for _, s in w], rel=1e-5)
        # ids must agree except where equal scores may come in either order
        assert {h.docid for h in g if h.score > (g[-1].score + 1e-5)} <= {d for d, _ in w}


# --------------------------------------------------------------------------- semantics


def test_plain_index_is_the_base_segment_and_is_converted_on_first_write(tmp_path):
    model = base_index(tmp_path / "ix")
    store = SegmentStore(tmp_path / "ix")
    snap = store.snapshot()
    assert snap.generation == 0 and len(snap.segments) == 1 and snap.n_docs == 30
    assert json.loads((tmp_path / "ix/manifest.json").read_text())["format"] == "spire-index"
    q = vectors(5, 99)
    plain = Searcher(InvertedIndex.load(tmp_path / "ix"), NoEncoder()).search_vectors(q, 7)
    seg = open_index(store, encoder=NoEncoder()).search_vectors(q, 7)
    assert seg == plain
    store.add(["n1"], vectors(1, 5))
    raw = json.loads((tmp_path / "ix/manifest.json").read_text())
    assert raw["format"] == "spire-segmented-index" and len(raw["segments"]) == 2
    assert not (tmp_path / "ix/postings").exists()  # moved into the base segment
    assert live(SegmentStore(tmp_path / "ix")) == set(model) | {"n1"}


def test_add_replace_delete_and_generations(tmp_path):
    base_index(tmp_path / "ix")
    store = SegmentStore(tmp_path / "ix")
    r = store.add(["n1", "b3"], vectors(2, 1))
    assert r.committed and r.results[0].found == [False, True]  # b3 replaced
    g = r.generation
    r = store.delete(["n1", "missing"])
    assert r.results[0].found == [True, False] and r.generation == g + 1
    r = store.delete(["missing"])
    assert not r.committed and r.generation == g + 1  # nothing to commit
    ids = live(store)
    assert "n1" not in ids and "b3" in ids and len(ids) == 30
    # the replaced b3 is the new vector, and only once
    snap = store.snapshot()
    pos, doc = snap.locate("b3")
    assert pos == 1
    row = snap.segments[pos].segment.index.to_matrix()[doc]
    assert np.allclose(row.toarray(), vectors(2, 1)[1].toarray(), rtol=0.01, atol=0.02)


def test_batch_keeps_operation_order(tmp_path):
    base_index(tmp_path / "ix")
    store = SegmentStore(tmp_path / "ix")
    batch = (
        WriteBatch().add(["x", "y"], vectors(2, 1)).delete(["x", "b0"]).add(["b0"], vectors(1, 2))
    )
    batch.delete(["y"]).add(["y"], vectors(1, 3))
    result = store.apply(batch)
    assert [r.found for r in result.results] == [
        [False, False],
        [True, True],
        [False],
        [True],
        [False],
    ]
    ids = live(store)
    assert "x" not in ids and {"y", "b0"} <= ids and len(ids) == 31
    assert len(store.snapshot().segments) == 2  # one segment for the whole batch


def test_bad_writes_are_refused(tmp_path):
    base_index(tmp_path / "ix")
    store = SegmentStore(tmp_path / "ix")
    with pytest.raises(SpireError, match="duplicate document id 'a'"):
        store.add(["a", "a"], vectors(2, 1))
    with pytest.raises(SpireError, match="columns"):
        store.add(["a"], sp.csr_matrix((1, VOCAB + 1), dtype=np.float32))
    with pytest.raises(SpireError, match="2 document vectors but 1 ids"):
        store.add(["a"], vectors(2, 1))
    with pytest.raises(SpireError, match="only an inference-free index"):
        store.set_idf(np.ones(VOCAB, dtype=np.float32))


def test_deleting_every_document_of_a_segment_drops_it(tmp_path):
    base_index(tmp_path / "ix", n=3)
    store = SegmentStore(tmp_path / "ix")
    store.add(["n1", "n2"], vectors(2, 1))
    store.delete(["n1", "n2"])
    assert [s.n_live for s in store.snapshot().segments] == [3]
    store.delete(["b0", "b1", "b2"])
    assert store.snapshot().segments == () and store.snapshot().n_docs == 0
    assert open_index(store, encoder=NoEncoder()).search_vectors(vectors(1, 3), 5) == [[]]


def test_empty_index_from_create(tmp_path):
    store = SegmentStore.create(tmp_path / "ix", INFO, VOCAB, "uint8")
    assert store.snapshot().n_docs == 0
    store.add(["a", "b"], vectors(2, 1))
    assert live(SegmentStore(tmp_path / "ix")) == {"a", "b"}
    with pytest.raises(SpireError, match="not empty"):
        SegmentStore.create(tmp_path / "ix", INFO, VOCAB)
    with pytest.raises(SpireError, match="IDF"):
        SegmentStore.create(tmp_path / "if", EncoderInfo("t", "inference-free"), VOCAB)


# --------------------------------------------------------------------------- search


@pytest.mark.parametrize("base", ["bitpack", "none"])  # new segments are packed either way
@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_search_matches_brute_force_over_live_documents(tmp_path, dtype, base):
    model = base_index(tmp_path / "ix", n=60, dtype=dtype, compression=base)
    store = SegmentStore(tmp_path / "ix")
    rng = np.random.default_rng(3)
    for step in range(12):
        new = vectors(4, 100 + step)
        ids = [f"n{step}-{j}" for j in range(3)] + [f"b{step}"]  # three adds, one replace
        store.add(ids, new)
        model.update({d: new[i] for i, d in enumerate(ids)})
        gone = list(rng.choice(sorted(model), size=3, replace=False))
        store.delete(gone)
        for d in gone:
            model.pop(d)
    # Each segment keeps its own scale: compare with its dequantised vectors.
    snap = store.snapshot()
    model = {}
    for seg in snap.segments:
        matrix = seg.segment.index.to_matrix()
        for doc in seg.live_docs().tolist():
            model[seg.segment.index.docids[doc]] = matrix[doc]
    searcher = open_index(store, encoder=NoEncoder())
    queries = vectors(25, 7)
    for k in (1, 5, 20, 200):
        assert_same_hits(searcher.search_vectors(queries, k), brute_force(model, queries, k))


@pytest.mark.parametrize("base", ["bitpack", "none"])
def test_explain_sums_to_the_score(tmp_path, base):
    base_index(tmp_path / "ix", dtype="uint8", compression=base)
    store = SegmentStore(tmp_path / "ix")
    store.add(["n1"], vectors(1, 11))
    searcher = open_index(store, encoder=object())  # no tokenizer: tokens are ids
    snap = store.snapshot()
    query = vectors(1, 11)
    hits = searcher.search_located(query, 5, snap)[0]
    assert "n1" in [h.docid for h in hits] and {h.segment for h in hits} == {0, 1}
    for hit in hits:
        parts = searcher.explain(snap, query.indices, query.data, hit)
        assert parts and sum(p.score for p in parts) == pytest.approx(hit.score, rel=1e-5)
        assert [p.score for p in parts] == sorted((p.score for p in parts), reverse=True)
        assert all(p.token == str(p.term) and p.term in query.indices for p in parts)


def test_snapshot_stays_usable_after_writes_and_merges(tmp_path):
    model = base_index(tmp_path / "ix")
    store = SegmentStore(tmp_path / "ix")
    store.add(["n1"], vectors(1, 1))
    old = store.snapshot()
    searcher = open_index(store, encoder=NoEncoder())
    before = searcher.search_located(vectors(3, 5), 10, old)
    store.delete(list(model)[:10])
    store.merge()  # deletes the old segments' files
    assert len(store.snapshot().segments) == 1
    assert searcher.search_located(vectors(3, 5), 10, old) == before
    assert old.n_docs == 31 and store.snapshot().n_docs == 21


def test_as_index_gives_a_plain_index_of_the_live_documents(tmp_path):
    base_index(tmp_path / "ix")
    store = SegmentStore(tmp_path / "ix")
    store.add(["n1", "b2"], vectors(2, 1))
    store.delete(["b0"])
    index = as_index(store.snapshot())
    assert sorted(index.docids) == sorted(live(store)) and index.n_docs == 30
    index.save(tmp_path / "plain")
    q = vectors(4, 8)
    plain = Searcher(InvertedIndex.load(tmp_path / "plain"), NoEncoder()).search_vectors(q, 5)
    segmented = open_index(store, encoder=NoEncoder()).search_vectors(q, 5)
    assert_same_hits(plain, [[(h.docid, h.score) for h in row] for row in segmented])


def test_other_process_commits_are_seen(tmp_path):
    base_index(tmp_path / "ix")
    reader, writer = SegmentStore(tmp_path / "ix"), SegmentStore(tmp_path / "ix")
    writer.add(["n1"], vectors(1, 1))
    assert "n1" in live(reader)
    writer.delete(["n1"])
    writer.merge()  # removes files the reader had loaded; it must reload cleanly
    assert "n1" not in live(reader) and len(reader.snapshot().segments) == 1


# --------------------------------------------------------------------------- merging


def test_merge_keeps_deletes_committed_while_it_ran(tmp_path, monkeypatch):
    base_index(tmp_path / "ix")
    store = SegmentStore(tmp_path / "ix")
    store.add(["n1", "n2"], vectors(2, 1))
    other = SegmentStore(tmp_path / "ix")  # another writer, as in another process
    real = merge_module.write_segment

    def write_then_race(*args, **kwargs):
        out = real(*args, **kwargs)
        other.delete(["b4", "n2"])  # lands between the merge's snapshot and its commit
        other.add(["late"], vectors(1, 9))
        return out

    monkeypatch.setattr(merge_module, "write_segment", write_then_race)
    result = store.merge()
    assert result.committed
    ids = live(SegmentStore(tmp_path / "ix"))
    assert "b4" not in ids and "n2" not in ids and {"n1", "late", "b5"} <= ids
    assert len(ids) == 31  # 30 + n1 + n2 - b4 - n2 + late


def test_merge_is_discarded_when_another_merge_took_its_segments(tmp_path, monkeypatch):
    base_index(tmp_path / "ix")
    store = SegmentStore(tmp_path / "ix")
    store.add(["n1"], vectors(1, 1))
    other = SegmentStore(tmp_path / "ix")
    real = merge_module.write_segment
    calls = []

    def race(*args, **kwargs):
        out = real(*args, **kwargs)
        if not calls:
            calls.append(1)
            other.merge()
        return out

    monkeypatch.setattr(merge_module, "write_segment", race)
    assert not store.merge().committed
    assert len(live(store)) == 31 and len(store.snapshot().segments) == 1
    assert not any((tmp_path / "ix/staging").iterdir())


def test_policy_merges_small_segments_and_deleted_heavy_ones(tmp_path):
    base_index(tmp_path / "ix", n=40)
    store = SegmentStore(tmp_path / "ix")
    policy = MergePolicy(small_docs=10, fanout=3, max_deleted_fraction=0.25)
    for i in range(5):
        store.add([f"n{i}"], vectors(1, i))
    assert len(store.snapshot().segments) == 6
    assert maybe_merge(store, policy) == 1
    assert [s.n_live for s in store.snapshot().segments] == [40, 5]
    store.delete([f"b{i}" for i in range(12)])
    assert maybe_merge(store, policy) == 1
    assert [(s.n_live, s.n_deleted) for s in store.snapshot().segments] == [(28, 0), (5, 0)]
    assert maybe_merge(store, policy) == 0


def test_group_committer_shares_commits_between_threads(tmp_path):
    base_index(tmp_path / "ix")
    store = SegmentStore(tmp_path / "ix")
    committer = GroupCommitter(store)
    futures = []

    def submit(t):
        for i in range(5):
            futures.append(committer.submit(WriteBatch().add([f"t{t}-{i}"], vectors(1, i))))

    threads = [threading.Thread(target=submit, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results = [f.result(timeout=60) for f in futures]
    committer.close()
    assert all(r.committed and r.results[0].found == [False] for r in results)
    assert len(live(store)) == 50 and committer.commits <= 20
    bad = committer  # a failing batch fails alone
    bad = GroupCommitter(store)
    ok, wrong = (
        bad.submit(WriteBatch().delete(["b1"])),
        bad.submit(WriteBatch().add(["z"], sp.csr_matrix((1, 3), dtype=np.float32))),
    )
    assert ok.result(timeout=60).results[0].found == [True]
    with pytest.raises(SpireError, match="columns"):
        wrong.result(timeout=60)
    bad.close()


# --------------------------------------------------------------------------- damage


def corrupt(path, truncate: bool = False) -> None:
    data = bytearray(path.read_bytes())
    if truncate:
        path.write_bytes(bytes(data[:-7]))
    else:
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "target",
    [
        "postings/impacts.npy",
        "postings/doc_words.npy",
        "postings/block_first.npy",
        "postings/block_width.npy",
        "docids.json",
        "manifest.json",
    ],
)
@pytest.mark.parametrize("truncate", [False, True])
def test_damaged_segment_file_is_named(tmp_path, target, truncate):
    base_index(tmp_path / "ix")
    store = SegmentStore(tmp_path / "ix")
    store.add(["n1", "n2"], vectors(2, 1))
    seg = store.snapshot().segments[1].name
    path = tmp_path / "ix/segments" / seg / target
    corrupt(path, truncate)
    with pytest.raises(SpireError) as info:
        SegmentStore(tmp_path / "ix")
    assert str(path) in str(info.value)
    assert ("truncated" if truncate else "corrupt") in str(info.value)


def test_damaged_plain_base_segment_is_named(tmp_path):
    base_index(tmp_path / "ix", compression="none")  # the uncompressed layout
    SegmentStore(tmp_path / "ix").add(["n1"], vectors(1, 1))  # converts: base -> segment
    path = tmp_path / "ix/segments/seg-00000000/postings/doc_ids.npy"
    corrupt(path)
    with pytest.raises(SpireError, match="doc_ids.npy"):
        SegmentStore(tmp_path / "ix")


def test_damaged_tombstones_and_idf_are_named(tmp_path):
    base_index(tmp_path / "ix")
    store = SegmentStore(tmp_path / "ix")
    store.delete(["b1"])
    tomb = store.snapshot().manifest.segments[0].tombstones.file
    corrupt(tmp_path / "ix" / tomb)
    with pytest.raises(SpireError, match=tomb.replace(".", r"\.")):
        SegmentStore(tmp_path / "ix")
    # sizes are checked even without hashing
    corrupt(tmp_path / "ix" / tomb, truncate=True)
    with pytest.raises(SpireError, match="truncated"):
        SegmentStore(tmp_path / "ix", verify=False)


def test_unknown_format_version_and_foreign_manifest(tmp_path):
    base_index(tmp_path / "ix")
    SegmentStore(tmp_path / "ix").add(["n1"], vectors(1, 1))
    path = tmp_path / "ix/manifest.json"
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, "format_version": 99}))
    with pytest.raises(SpireError, match="version 99 is not supported"):
        SegmentStore(tmp_path / "ix")
    path.write_text("{not json")
    with pytest.raises(SpireError, match="corrupt manifest"):
        SegmentStore(tmp_path / "ix")
    with pytest.raises(SpireError, match="not a spire index"):
        SegmentStore(tmp_path / "nowhere")


def test_segmented_manifest_keeps_the_lexical_term(tmp_path):
    lexical = EncoderInfo("t", "inference-free", lexical={"weight": 0.5, "k1": 1.2})
    idf = np.ones(VOCAB, dtype=np.float32)
    store = SegmentStore.create(tmp_path / "ix", lexical, VOCAB, "uint8", idf=idf)
    store.add(["a"], vectors(1, 1))
    path = tmp_path / "ix/manifest.json"
    raw = json.loads(path.read_text())
    assert raw["encoder"]["lexical"] == {"weight": 0.5, "k1": 1.2}
    assert SegmentStore(tmp_path / "ix").snapshot().encoder == lexical
    SegmentStore.create(tmp_path / "off", INFO, VOCAB).add(["a"], vectors(1, 1))
    assert "lexical" not in json.loads((tmp_path / "off/manifest.json").read_text())["encoder"]
    path.write_text(json.dumps({**raw, "encoder": {**raw["encoder"], "lexical": {"k1": 1}}}))
    with pytest.raises(SpireError, match="encoder.lexical"):
        SegmentStore(tmp_path / "ix")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda raw: raw.update(impact_dtype="int64"), "impact_dtype 'int64'"),
        (lambda raw: raw["segments"][0].update(name="../elsewhere"), "bad path"),
        (lambda raw: raw["segments"][0]["files"].update({"../x.npy": {}}), "bad path"),
        (lambda raw: raw["idf"].update(file="/etc/hostname"), "bad path"),
        (lambda raw: raw["encoder"].update(mode="telepathic"), "'telepathic'"),
    ],
    ids=["dtype", "segment-name", "segment-file", "idf-file", "mode"],
)
def test_segmented_manifest_refuses_bad_dtypes_paths_and_modes(tmp_path, change, expected):
    idf = np.ones(VOCAB, dtype=np.float32)
    info = EncoderInfo("t", "inference-free")
    SegmentStore.create(tmp_path / "ix", info, VOCAB, "uint8", idf=idf).add(["a"], vectors(1, 1))
    path = tmp_path / "ix/manifest.json"
    raw = json.loads(path.read_text())
    change(raw)
    path.write_text(json.dumps(raw))
    with pytest.raises(SpireError) as info_:
        SegmentStore(tmp_path / "ix")
    assert str(path) in str(info_.value) and expected in str(info_.value)
