"""One compiled search kernel serves an index built in memory and the same index loaded
from disk (memory-mapped, read-only), so `make setup`'s warm-up covers both."""

from __future__ import annotations

from indexing import EncoderInfo, InvertedIndex
from indexing.incremental import SegmentStore
from retrieval import Searcher, open_index
from retrieval.batch import _search_slice
from retrieval.groups import _group_slice
from retrieval.warm import warm_folder, warm_group


def test_memory_and_disk_indexes_share_compiled_kernels(tmp_path, random_docs):
    ids = [f"d{i}" for i in range(random_docs.shape[0])]
    info = EncoderInfo(name="test", mode="siamese")
    queries = random_docs[:5]
    for dtype, compression in (("uint16", "none"), ("float32", "bitpack")):
        index = InvertedIndex.from_matrix(random_docs, ids, info, dtype, compression=compression)
        folder = index.save(tmp_path / f"{dtype}-{compression}")
        warm_folder(folder)  # what `spire index` and `make setup` do
        compiled = set(_search_slice.signatures)
        in_memory = Searcher(index).search_vectors(queries, 5)
        loaded = Searcher(InvertedIndex.load(folder)).search_vectors(queries, 5)
        assert loaded == in_memory
        assert set(_search_slice.signatures) == compiled  # nothing compiled again


def test_the_group_warm_up_compiles_what_a_segmented_search_runs(tmp_path, random_docs):
    ids = [f"d{i}" for i in range(random_docs.shape[0])]
    info = EncoderInfo(name="test", mode="siamese")
    store = SegmentStore.create(tmp_path / "ix", info, random_docs.shape[1], impact_dtype="uint8")
    half = len(ids) // 2
    store.add(ids[:half], random_docs[:half])
    store.add(ids[half:], random_docs[half:])
    store.delete(ids[:2])
    warm_group(InvertedIndex.from_matrix(random_docs, ids, info, "uint8"))
    compiled = set(_group_slice.signatures)
    hits = open_index(tmp_path / "ix", encoder=object()).search_vectors(random_docs[2:7], 5)
    assert any(hits) and set(_group_slice.signatures) == compiled  # nothing compiled again
