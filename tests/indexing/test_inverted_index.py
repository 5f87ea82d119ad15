"""InvertedIndex: building from a matrix, quantisation, and the atomic save / mmap load cycle."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import scipy.sparse as sp

from indexing import EncoderInfo, InvertedIndex
from indexing.manifest import FORMAT_NAME, FORMAT_VERSION, FORMAT_VERSION_COMPRESSED
from spire.core.errors import SpireError

SIAMESE = EncoderInfo(name="splade-tiny", mode="siamese")
INFERENCE_FREE = EncoderInfo(
    name="splade-tiny", mode="inference-free", query_max_length=32, doc_max_length=128
)
INT_TOP = {"uint8": 255, "uint16": 65535}


def ids(n: int) -> list[str]:
    return [f"doc-{i}" for i in range(n)]


@pytest.fixture
def docs(random_docs) -> sp.csr_matrix:
    """random_docs plus a few weights far below the uint8/uint16 grid step (they round to 0)."""
    lil = random_docs.tolil()
    lil[1, 499] = 1e-6
    lil[2, 498] = 2e-6
    lil[3, 0] = 1e-7
    return lil.tocsr().astype(np.float32)


def files_in(folder) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def staging_leftovers(parent) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


# --------------------------------------------------------------------------- from_matrix


def test_from_matrix_float32_keeps_weights_exactly(docs):
    index = InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE, "float32")
    assert index.impacts.dtype == np.float32
    assert index.impact_dtype == "float32"
    assert index.scale == 1.0
    assert index.n_postings == docs.nnz
    assert index.vocab_size == docs.shape[1]
    assert index.n_docs == docs.shape[0]
    assert abs(index.to_matrix() - docs).max() == 0.0
    assert index.indptr.dtype == np.int64
    assert index.compression == "bitpack"  # the default
    assert index.doc_ids is None and index.all_doc_ids().dtype == np.int32
    plain = InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE, compression="none")
    assert plain.doc_ids.dtype == np.int32 and plain.packed is None


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_from_matrix_quantised_scale_and_error_bound(docs, dtype):
    index = InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE, dtype)
    top = INT_TOP[dtype]
    assert index.impacts.dtype == np.dtype(dtype)
    assert index.impact_dtype == dtype
    # The scale maps the largest weight onto the top of the integer grid.
    assert index.scale == pytest.approx(float(docs.data.max()) / top, rel=1e-6)
    assert int(index.impacts.max()) == top
    assert int(index.impacts.min()) >= 1  # zeros are never stored

    original = docs.tocoo()
    restored = index.to_matrix().tocsr()
    half_step = index.scale / 2 * (1 + 1e-5)
    # to_matrix() works in float32: allow its rounding on top of the half grid step.
    fp32 = 4 * float(np.finfo(np.float32).eps)
    kept = dropped = 0
    for r, c, w in zip(original.row, original.col, original.data, strict=True):
        value = restored[r, c]
        if value == 0:
            # Only weights that round to zero may disappear.
            assert w <= half_step, (r, c, w)
            dropped += 1
        else:
            assert abs(value - w) <= half_step + fp32 * w, (r, c, w, value)
            kept += 1
    assert dropped >= 3  # the injected tiny weights
    assert kept + dropped == docs.nnz
    assert index.n_postings == kept
    # Nothing appears where the original had no weight.
    assert restored.nnz == kept


@pytest.mark.parametrize("compression", ["none", "bitpack"])
@pytest.mark.parametrize("dtype", ["float32", "uint16", "uint8"])
def test_from_matrix_postings_are_term_major_with_ascending_doc_ids(docs, dtype, compression):
    index = InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE, dtype,
                                      compression=compression)  # fmt: skip
    doc_ids = index.all_doc_ids()
    assert index.indptr[0] == 0
    assert index.indptr[-1] == len(doc_ids) == len(index.impacts)
    assert np.all(np.diff(index.indptr) >= 0)
    csc = docs.tocsc()
    for t in range(index.vocab_size):
        lo, hi = index.indptr[t], index.indptr[t + 1]
        posting_docs = doc_ids[lo:hi]
        np.testing.assert_array_equal(index.term_doc_ids(t), posting_docs)
        assert np.all(np.diff(posting_docs) > 0), f"term {t} not ascending"
        # The docs of term t are the docs that hold t (minus weights rounded to zero).
        holders = csc.indices[csc.indptr[t] : csc.indptr[t + 1]]
        assert set(posting_docs.tolist()) <= set(holders.tolist())
        if dtype == "float32":
            assert posting_docs.tolist() == sorted(holders.tolist())
            np.testing.assert_array_equal(
                index.impacts[lo:hi], csc.data[csc.indptr[t] : csc.indptr[t + 1]]
            )


def test_from_matrix_drops_explicit_zeros_and_sums_duplicates():
    # (0, 2) given twice: 0.5 + 0.25; (1, 1) an explicit zero.
    rows, cols, vals = [0, 0, 1, 1], [2, 2, 1, 3], [0.5, 0.25, 0.0, 1.0]
    m = sp.csr_matrix(
        sp.coo_matrix((np.float32(vals), (rows, cols)), shape=(2, 4)), dtype=np.float32
    )
    index = InvertedIndex.from_matrix(m, ["a", "b"], SIAMESE, "float32")
    assert index.n_postings == 2
    dense = index.to_matrix().toarray()
    np.testing.assert_allclose(dense, [[0, 0, 0.75, 0], [0, 0, 0, 1.0]])


def test_from_matrix_rejects_id_count_mismatch(docs):
    with pytest.raises(ValueError, match="ids"):
        InvertedIndex.from_matrix(docs, ids(docs.shape[0] - 1), SIAMESE)


def test_from_matrix_rejects_unknown_dtype(docs):
    with pytest.raises(ValueError, match="int4"):
        InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE, "int4")


def test_from_matrix_of_an_empty_matrix():
    empty = sp.csr_matrix((3, 10), dtype=np.float32)
    index = InvertedIndex.from_matrix(empty, ["a", "b", "c"], SIAMESE, "uint8")
    assert index.n_postings == 0
    assert index.vocab_size == 10
    assert index.scale == 1.0
    assert index.to_matrix().nnz == 0


def test_idf_is_stored_as_float32(docs):
    idf = np.linspace(0.1, 3.0, docs.shape[1])  # float64 in
    index = InvertedIndex.from_matrix(docs, ids(docs.shape[0]), INFERENCE_FREE, idf=idf)
    assert index.idf.dtype == np.float32
    np.testing.assert_allclose(index.idf, idf, rtol=1e-6)


# --------------------------------------------------------------------------- save / load


@pytest.mark.parametrize("dtype", ["float32", "uint16", "uint8"])
def test_save_load_round_trip(tmp_path, docs, dtype):
    built = InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE, dtype, compression="none")
    out = built.save(tmp_path / "idx")
    assert out == tmp_path / "idx"
    loaded = InvertedIndex.load(out)
    for attr in ("indptr", "doc_ids", "impacts"):
        array = getattr(loaded, attr)
        assert isinstance(array, np.memmap), attr
        assert array.dtype == getattr(built, attr).dtype
        np.testing.assert_array_equal(array, getattr(built, attr))
    assert loaded.compression == "none"
    assert loaded.scale == built.scale
    assert loaded.docids == built.docids
    assert loaded.encoder == SIAMESE
    assert loaded.idf is None
    assert abs(loaded.to_matrix() - built.to_matrix()).max() == 0


@pytest.mark.parametrize("dtype", ["float32", "uint16", "uint8"])
def test_packed_save_load_round_trip(tmp_path, docs, dtype):
    built = InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE, dtype)
    loaded = InvertedIndex.load(built.save(tmp_path / "idx"))
    assert loaded.compression == "bitpack" and loaded.doc_ids is None
    for attr in ("first", "width", "words"):  # stored, memory-mapped
        array = getattr(loaded.packed, attr)
        assert isinstance(array, np.memmap), attr
        np.testing.assert_array_equal(array, getattr(built.packed, attr))
    for attr in ("term_blocks", "offset"):  # derived on load
        np.testing.assert_array_equal(getattr(loaded.packed, attr), getattr(built.packed, attr))
    assert isinstance(loaded.impacts, np.memmap)
    assert loaded.indptr.dtype == np.int64  # stored as uint32, widened: O(vocab)
    np.testing.assert_array_equal(loaded.indptr, built.indptr)
    np.testing.assert_array_equal(loaded.all_doc_ids(), built.all_doc_ids())
    assert abs(loaded.to_matrix() - docs.astype(np.float32)).max() <= built.scale
    assert abs(loaded.to_matrix() - built.to_matrix()).max() == 0


def test_load_without_mmap_gives_plain_arrays(tmp_path, docs):
    for compression in ("none", "bitpack"):
        folder = tmp_path / compression
        index = InvertedIndex.from_matrix(
            docs, ids(docs.shape[0]), SIAMESE, compression=compression
        )
        index.save(folder)
        loaded = InvertedIndex.load(folder, mmap=False)
        assert not isinstance(loaded.impacts, np.memmap)
        ids_array = loaded.doc_ids if compression == "none" else loaded.packed.words
        assert not isinstance(ids_array, np.memmap)
        assert loaded.n_postings > 0


def test_packed_layout_and_manifest_fields(tmp_path, docs):
    folder = InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE).save(tmp_path / "idx")
    assert (files := files_in(folder)) == [
        "docids.json",
        "manifest.json",
        "postings/block_first.npy",
        "postings/block_width.npy",
        "postings/doc_words.npy",
        "postings/impacts.npy",
        "postings/indptr.npy",
    ]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format_version"] == FORMAT_VERSION_COMPRESSED == 2
    assert manifest["compression"] == "bitpack"
    assert sorted(manifest["files"]) == [f for f in files if f != "manifest.json"]
    # Smaller than the plain doc ids by far: about 1 byte a posting on this corpus.
    plain = InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE, compression="none")
    plain_folder = plain.save(tmp_path / "plain")
    assert (folder / "postings/doc_words.npy").stat().st_size < (
        plain_folder / "postings/doc_ids.npy"
    ).stat().st_size / 2


def test_layout_and_manifest_fields(tmp_path, docs):
    built = InvertedIndex.from_matrix(
        docs, ids(docs.shape[0]), SIAMESE, "uint8", compression="none"
    )
    folder = built.save(tmp_path / "idx")
    assert (files := files_in(folder)) == [
        "docids.json",
        "manifest.json",
        "postings/doc_ids.npy",
        "postings/impacts.npy",
        "postings/indptr.npy",
    ]
    assert json.loads((folder / "docids.json").read_text(encoding="utf-8")) == built.docids

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == FORMAT_NAME
    assert manifest["format_version"] == FORMAT_VERSION == 1
    assert "compression" not in manifest  # a version 1 manifest, readable by older spire
    assert manifest["encoder"]["name"] == "splade-tiny"
    assert manifest["encoder"]["mode"] == "siamese"
    assert manifest["vocab_size"] == docs.shape[1] == 500
    assert manifest["n_docs"] == 200
    assert manifest["n_postings"] == built.n_postings
    assert manifest["impact_dtype"] == "uint8"
    assert manifest["scale"] == pytest.approx(built.scale, rel=1e-12)
    assert manifest["created_with"].startswith("spire ")
    assert manifest["created_at"]
    # Every file but the manifest itself is listed with its size and sha256.
    assert sorted(manifest["files"]) == [f for f in files if f != "manifest.json"]
    for rel, meta in manifest["files"].items():
        data = (folder / rel).read_bytes()
        assert meta["bytes"] == len(data)
        assert meta["sha256"] == hashlib.sha256(data).hexdigest()


def test_idf_npy_only_for_an_inference_free_index(tmp_path, docs):
    idf = np.random.default_rng(1).uniform(0.5, 5.0, docs.shape[1]).astype(np.float32)
    free = InvertedIndex.from_matrix(docs, ids(docs.shape[0]), INFERENCE_FREE, idf=idf)
    siamese = InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE)
    free.save(tmp_path / "free")
    siamese.save(tmp_path / "siamese")

    assert (tmp_path / "free" / "idf.npy").is_file()
    assert not (tmp_path / "siamese" / "idf.npy").exists()
    manifest = json.loads((tmp_path / "free" / "manifest.json").read_text())
    assert "idf.npy" in manifest["files"]
    assert manifest["encoder"] == {
        "name": "splade-tiny",
        "mode": "inference-free",
        "query_max_length": 32,
        "doc_max_length": 128,
    }

    loaded = InvertedIndex.load(tmp_path / "free")
    np.testing.assert_array_equal(loaded.idf, idf)
    assert loaded.encoder == INFERENCE_FREE
    assert InvertedIndex.load(tmp_path / "siamese").idf is None


def test_save_creates_missing_parent_folders(tmp_path, docs):
    target = tmp_path / "a" / "b" / "idx"
    InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE).save(target)
    assert InvertedIndex.load(target).n_docs == 200


def test_docids_with_unicode_round_trip(tmp_path):
    m = sp.csr_matrix(np.eye(3, dtype=np.float32))
    docids = ["é-1", "文書", 'quote"and\\slash']
    InvertedIndex.from_matrix(m, docids, SIAMESE).save(tmp_path / "idx")
    assert InvertedIndex.load(tmp_path / "idx").docids == docids


# --------------------------------------------------------------------------- overwrite / atomicity


def test_save_refuses_an_existing_folder_and_leaves_it_intact(tmp_path, docs):
    target = tmp_path / "idx"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    index = InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE)
    with pytest.raises(SpireError, match="already exists") as info:
        index.save(target)
    assert str(target) in str(info.value)
    assert [p.name for p in target.iterdir()] == ["precious.txt"]
    assert (target / "precious.txt").read_text() == "keep me"
    assert staging_leftovers(tmp_path) == []


def test_save_refuses_an_existing_index(tmp_path, docs):
    first = InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE, "float32")
    first.save(tmp_path / "idx")
    before = (tmp_path / "idx" / "manifest.json").read_bytes()
    second = InvertedIndex.from_matrix(docs[:10], ids(10), SIAMESE, "uint8")
    with pytest.raises(SpireError):
        second.save(tmp_path / "idx")
    assert (tmp_path / "idx" / "manifest.json").read_bytes() == before
    assert InvertedIndex.load(tmp_path / "idx").n_docs == 200


def test_overwrite_replaces_the_folder(tmp_path, docs):
    target = tmp_path / "idx"
    InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE, "float32").save(target)
    (target / "stale.txt").write_text("from the old index")
    replacement = InvertedIndex.from_matrix(docs[:10], [f"new-{i}" for i in range(10)], SIAMESE)
    replacement.save(target, overwrite=True)
    loaded = InvertedIndex.load(target)
    assert loaded.n_docs == 10
    assert loaded.docids[0] == "new-0"
    assert loaded.impact_dtype == "uint8"
    assert not (target / "stale.txt").exists()
    assert staging_leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_overwrite_of_the_folder_the_index_was_loaded_from(tmp_path, docs):
    target = tmp_path / "idx"
    InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE).save(target)
    loaded = InvertedIndex.load(target)  # memory-mapped from the files being replaced
    loaded.save(target, overwrite=True)
    again = InvertedIndex.load(target)
    np.testing.assert_array_equal(again.impacts, loaded.impacts)
    assert staging_leftovers(tmp_path) == []


def test_overwrite_into_a_new_path_is_a_plain_save(tmp_path, docs):
    InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE).save(
        tmp_path / "idx", overwrite=True
    )
    assert InvertedIndex.load(tmp_path / "idx").n_docs == 200


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_failure_mid_save_leaves_no_folder_and_no_staging(tmp_path, docs, monkeypatch, exc_type):
    def broken_manifest(self, folder):
        # Arrays are already written into the staging folder at this point.
        assert (folder / "postings" / "impacts.npy").is_file()
        raise exc_type("disk on fire")

    monkeypatch.setattr(InvertedIndex, "_manifest", broken_manifest)
    index = InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE)
    with pytest.raises(exc_type, match="disk on fire"):
        index.save(tmp_path / "idx")
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_index(tmp_path, docs, monkeypatch):
    target = tmp_path / "idx"
    InvertedIndex.from_matrix(docs, ids(docs.shape[0]), SIAMESE, "float32").save(target)
    before = {p.name: p.read_bytes() for p in target.rglob("*") if p.is_file()}

    def broken_save(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr("indexing.inverted_index.np.save", broken_save)
    with pytest.raises(OSError, match="no space"):
        InvertedIndex.from_matrix(docs[:5], ids(5), SIAMESE).save(target, overwrite=True)
    monkeypatch.undo()

    assert {p.name: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    assert staging_leftovers(tmp_path) == []
    assert InvertedIndex.load(target).n_docs == 200


def test_manifest_records_the_lexical_term_only_when_on(tmp_path, docs):
    idf = np.ones(docs.shape[1], dtype=np.float32)
    lexical = EncoderInfo("m", "inference-free", lexical={"weight": 1.0, "k1": 0.9})
    InvertedIndex.from_matrix(docs, ids(200), lexical, idf=idf).save(tmp_path / "on")
    InvertedIndex.from_matrix(docs, ids(200), INFERENCE_FREE, idf=idf).save(tmp_path / "off")
    on = json.loads((tmp_path / "on" / "manifest.json").read_text())["encoder"]
    assert on["lexical"] == {"weight": 1.0, "k1": 0.9}
    assert "lexical" not in json.loads((tmp_path / "off" / "manifest.json").read_text())["encoder"]
    assert InvertedIndex.load(tmp_path / "on").encoder == lexical
    assert InvertedIndex.load(tmp_path / "on").encoder.load_options()["lexical_weight"] == 1.0
    # An index without the field (any older one) encodes new documents with it off.
    off = InvertedIndex.load(tmp_path / "off").encoder
    assert off.lexical is None and off.load_options()["lexical_weight"] == 0.0
