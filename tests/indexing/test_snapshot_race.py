"""A reader loading a generation whose files a merge deletes meanwhile retries with the
next generation instead of failing (seen as a 500 in the server's load test: a search's
snapshot found seg-XXXX/docids.json listed, then gone, between is_file and stat)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from indexing import EncoderInfo, InvertedIndex
from indexing.incremental import SegmentStore
from indexing.incremental import reader as reader_module

INFO = EncoderInfo(name="test", mode="siamese")


def vectors(n: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    return sp.csr_matrix(rng.uniform(0.1, 3.0, size=(n, 12)).astype(np.float32))


def test_a_snapshot_racing_a_merge_reads_the_next_generation(tmp_path, monkeypatch):
    root = tmp_path / "ix"
    InvertedIndex.from_matrix(vectors(20, 0), [f"b{i}" for i in range(20)], INFO, "float32").save(
        root
    )
    writer = SegmentStore(root)
    writer.add(["n1"], vectors(1, 1))
    reader = SegmentStore(root)  # its own view, as in another process
    reader.snapshot()
    writer.add(["n2"], vectors(1, 2))  # a segment the reader has not loaded yet
    real, calls = reader_module.load_segment, []

    def racing(folder, entry, idf, verify):
        calls.append(entry.name)
        if len(calls) == 1:  # the merge commits and deletes what the reader is opening
            writer.merge()
            missing = folder / entry.folder / "docids.json"
            raise FileNotFoundError(2, "No such file or directory", str(missing))
        return real(folder, entry, idf, verify)

    monkeypatch.setattr(reader_module, "load_segment", racing)
    snap = reader.snapshot()
    assert len(snap.segments) == 1 and len(calls) == 2
    assert set(snap.live_ids()) == {f"b{i}" for i in range(20)} | {"n1", "n2"}


def test_a_file_missing_from_an_unchanged_manifest_is_still_an_error(tmp_path, monkeypatch):
    root = tmp_path / "ix"
    InvertedIndex.from_matrix(vectors(5, 0), [f"b{i}" for i in range(5)], INFO, "float32").save(
        root
    )
    writer = SegmentStore(root)
    writer.add(["n1"], vectors(1, 1))

    def gone(folder, entry, idf, verify):
        raise FileNotFoundError(2, "No such file or directory", str(folder / entry.folder))

    monkeypatch.setattr(reader_module, "load_segment", gone)
    with pytest.raises(FileNotFoundError):
        SegmentStore(root).snapshot()  # opening reads the manifest and its segments
