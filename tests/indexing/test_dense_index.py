"""DenseIndex: exact inner-product search, atomic save, and every way loading can fail."""

from __future__ import annotations

import json

import numpy as np
import pytest

from indexing.dense_index import DenseIndex
from spire.core.errors import SpireError


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def vectors() -> np.ndarray:
    return unit_vectors(300, 24, seed=3)


@pytest.fixture
def index(vectors) -> DenseIndex:
    return DenseIndex.build([f"d{i}" for i in range(len(vectors))], vectors, encoder="toy")


@pytest.fixture
def saved(index, tmp_path):
    return index.save(tmp_path / "dense")


def test_search_matches_brute_force(index, vectors):
    queries = unit_vectors(20, 24, seed=4)
    scores, rows = index.search(queries, 10)
    expected = queries.astype(np.float64) @ vectors.astype(np.float64).T
    for i in range(len(queries)):
        assert rows[i].tolist() == np.argsort(-expected[i])[:10].tolist()
        np.testing.assert_allclose(scores[i], np.sort(expected[i])[::-1][:10], atol=1e-5)


def test_k_edges(index):
    q = unit_vectors(2, 24, seed=5)
    scores, rows = index.search(q, 1000)  # more than the 300 documents
    assert rows.shape == (2, 300) and (rows >= 0).all()
    assert index.search(q, 0)[1].shape == (2, 0)
    with pytest.raises(SpireError, match=r"shape \(n, 24\)"):
        index.search(unit_vectors(1, 8, seed=6), 5)


def test_save_load_round_trip(index, saved):
    assert sorted(p.name for p in saved.iterdir()) == [
        "docids.json",
        "index.faiss",
        "manifest.json",
    ]
    manifest = json.loads((saved / "manifest.json").read_text())
    assert manifest["format"] == "spire-dense-index" and manifest["format_version"] == 1
    assert (manifest["encoder"], manifest["dim"], manifest["n_docs"]) == ("toy", 24, 300)
    loaded = DenseIndex.load(saved)
    assert loaded.docids == index.docids and loaded.encoder == "toy" and loaded.dim == 24
    q = unit_vectors(5, 24, seed=7)
    for a, b in zip(index.search(q, 7), loaded.search(q, 7), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not list(saved.parent.glob(".dense.tmp-*")), "staging folder left behind"


def test_save_refuses_to_overwrite_unless_asked(index, saved):
    with pytest.raises(SpireError, match="already exists; pass --overwrite"):
        index.save(saved)
    small = DenseIndex.build(["x"], unit_vectors(1, 24, seed=8), encoder="other")
    small.save(saved, overwrite=True)
    assert DenseIndex.load(saved).docids == ["x"]


def test_build_refuses_bad_input():
    v = unit_vectors(3, 4, seed=9)
    with pytest.raises(SpireError, match="3 document vectors but 2 ids"):
        DenseIndex.build(["a", "b"], v)
    with pytest.raises(SpireError, match="unique"):
        DenseIndex.build(["a", "b", "a"], v)
    with pytest.raises(SpireError, match="2-d"):
        DenseIndex.build(["a", "b", "c"], v.ravel())
    v[1, 2] = np.nan
    with pytest.raises(SpireError, match="NaN"):
        DenseIndex.build(["a", "b", "c"], v)


def _edit_manifest(folder, **changes):
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def test_unknown_format_version_is_refused(saved):
    _edit_manifest(saved, format_version=99)
    with pytest.raises(SpireError, match="manifest.json: dense index format version 99"):
        DenseIndex.load(saved)


def test_foreign_or_missing_manifest(saved, tmp_path):
    _edit_manifest(saved, format="spire-index")
    with pytest.raises(SpireError, match="not a spire dense index manifest"):
        DenseIndex.load(saved)
    (saved / "manifest.json").write_text("{not json")
    with pytest.raises(SpireError, match="manifest.json: corrupt manifest"):
        DenseIndex.load(saved)
    (saved / "manifest.json").unlink()
    with pytest.raises(SpireError, match="manifest.json: missing"):
        DenseIndex.load(saved)
    with pytest.raises(SpireError, match="no such index folder"):
        DenseIndex.load(tmp_path / "nowhere")


def test_corrupt_faiss_file_is_named(saved):
    path = saved / "index.faiss"
    data = bytearray(path.read_bytes())
    data[:4] = b"XXXX"  # same size, broken header
    path.write_bytes(bytes(data))
    with pytest.raises(SpireError, match="index.faiss: corrupt \\(sha256"):
        DenseIndex.load(saved)
    # Without hashing, faiss itself rejects the file; still one SpireError naming it.
    with pytest.raises(SpireError, match="index.faiss: corrupt faiss index"):
        DenseIndex.load(saved, verify=False)


def test_truncated_or_missing_files_are_named(saved):
    path = saved / "index.faiss"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(SpireError, match="index.faiss: truncated"):
        DenseIndex.load(saved)
    (saved / "docids.json").unlink()
    _edit_manifest(saved, files={})
    with pytest.raises(SpireError, match="does not list index.faiss"):
        DenseIndex.load(saved)


def test_manifest_that_disagrees_with_the_files(saved):
    _edit_manifest(saved, n_docs=5)
    with pytest.raises(SpireError, match="inconsistent dense index .*manifest says 5"):
        DenseIndex.load(saved)
    _edit_manifest(saved, n_docs=300, dim=12)
    with pytest.raises(SpireError, match="dim 24, manifest says 12"):
        DenseIndex.load(saved)
    _edit_manifest(saved, dim="big")
    with pytest.raises(SpireError, match="dim must be an integer"):
        DenseIndex.load(saved)
