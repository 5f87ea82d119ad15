"""A damaged packed index (compression="bitpack") gives one SpireError naming the file at
fault, as test_bad_index.py checks for the uncompressed layout; and manifests of either
version load or are refused as the format versions promise."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from indexing import InvertedIndex
from tests.indexing.test_bad_index import (
    edit_manifest,
    flip_byte,
    header_end,
    inference_free_index,
    load_error,
    resize_shape,
)

PACKED = [
    "postings/block_first.npy",
    "postings/block_width.npy",
    "postings/doc_words.npy",
    "postings/indptr.npy",
    "postings/impacts.npy",
]


@pytest.fixture
def packed_dir(tmp_path, random_docs) -> Path:
    return inference_free_index(tmp_path / "idx", random_docs, "bitpack")


def rewrite(folder: Path, rel: str, array: np.ndarray) -> None:
    """Replace a listed array and re-sign it in the manifest, so that only the content
    checks can object (as a buggy writer, not a damaged disk, would leave it)."""
    np.save(folder / rel, array, allow_pickle=False)
    manifest = json.loads((folder / "manifest.json").read_text())
    data = (folder / rel).read_bytes()
    manifest["files"][rel] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_the_packed_fixture_loads(packed_dir):
    index = InvertedIndex.load(packed_dir)
    assert index.compression == "bitpack"
    assert index.n_docs == 200 and index.n_postings > 0


@pytest.mark.parametrize("verify", [True, False])
@pytest.mark.parametrize("rel", PACKED)
def test_truncated_packed_file(packed_dir, rel, verify):
    path = packed_dir / rel
    path.write_bytes(path.read_bytes()[:-3])
    message = load_error(packed_dir, verify=verify)
    assert str(path) in message and "truncated" in message


@pytest.mark.parametrize("rel", PACKED)
def test_appended_bytes_in_packed_file(packed_dir, rel):
    path = packed_dir / rel
    path.write_bytes(path.read_bytes() + b"\0")
    assert str(path) in load_error(packed_dir, verify=False)


@pytest.mark.parametrize("rel", PACKED)
def test_byte_flipped_in_packed_file(packed_dir, rel):
    path = packed_dir / rel
    flip_byte(path, path.stat().st_size - 1)
    message = load_error(packed_dir)
    assert str(path) in message and "sha256" in message


@pytest.mark.parametrize("rel", PACKED)
def test_missing_packed_file(packed_dir, rel):
    (packed_dir / rel).unlink()
    message = load_error(packed_dir)
    assert str(packed_dir / rel) in message and "missing" in message


@pytest.mark.parametrize("rel", PACKED[:3])
def test_manifest_that_does_not_list_a_packed_file(packed_dir, rel):
    manifest = json.loads((packed_dir / "manifest.json").read_text())
    del manifest["files"][rel]
    (packed_dir / "manifest.json").write_text(json.dumps(manifest))
    assert rel in load_error(packed_dir)


@pytest.mark.parametrize(
    ("rel", "old", "new"),
    [
        ("postings/block_width.npy", b"'descr': '|u1'", b"'descr': '|i1'"),
        ("postings/doc_words.npy", b"'descr': '<u4'", b"'descr': '<i4'"),
        ("postings/block_first.npy", b"'descr': '<i4'", b"'descr': '<u4'"),
        ("postings/indptr.npy", b"'descr': '<u4'", b"'descr': '<f4'"),
    ],
)
def test_wrong_dtype_in_header_without_verify(packed_dir, rel, old, new):
    path = packed_dir / rel
    data = path.read_bytes()
    assert old in data[: header_end(data)]
    path.write_bytes(data.replace(old, new, 1))  # same size: only a type check can see it
    message = load_error(packed_dir, verify=False)
    assert str(path) in message and "expected" in message


@pytest.mark.parametrize("rel", PACKED[:3])
def test_shape_shrunk_in_header_without_verify(packed_dir, rel):
    path = packed_dir / rel
    path.write_bytes(resize_shape(path.read_bytes(), grow=False))
    message = load_error(packed_dir, verify=False)
    assert str(path) in message and "inconsistent" in message


def test_impossible_bit_width_without_verify(packed_dir):
    path = packed_dir / "postings" / "block_width.npy"
    flip_byte(path, path.stat().st_size - 1)  # a width of 224 or more bits
    message = load_error(packed_dir, verify=False)
    assert str(path) in message and "31" in message


def _last_first_id_past_the_corpus(first: np.ndarray) -> None:
    first[-1] = 200  # n_docs: one past the last document


def _widest_gaps(words: np.ndarray) -> None:
    words[:-1] = 0xFFFFFFFF  # every gap as large as its block's width allows


@pytest.mark.parametrize(
    ("rel", "damage"),
    [
        ("postings/block_first.npy", _last_first_id_past_the_corpus),
        ("postings/doc_words.npy", _widest_gaps),
    ],
)
def test_doc_numbers_out_of_range_are_caught_by_verify(packed_dir, rel, damage):
    array = np.load(packed_dir / rel)
    damage(array)
    rewrite(packed_dir, rel, array)
    message = load_error(packed_dir)
    assert str(packed_dir / rel) in message and "out of range or out of order" in message


def test_indptr_that_goes_backwards(packed_dir):
    rel = "postings/indptr.npy"
    indptr = np.load(packed_dir / rel)
    indptr[1], indptr[2] = indptr[2] + 1, indptr[1]
    rewrite(packed_dir, rel, indptr)
    message = load_error(packed_dir, verify=False)
    assert "inconsistent" in message and "indptr" in message


# --------------------------------------------------------------------------- versions


def test_compression_in_a_version_1_manifest_is_refused(packed_dir):
    edit_manifest(packed_dir, format_version=1)
    message = load_error(packed_dir)
    assert "manifest.json" in message and "version 2" in message


def test_unknown_compression_is_refused(packed_dir):
    edit_manifest(packed_dir, compression="zstd")
    message = load_error(packed_dir)
    assert "manifest.json" in message and "bitpack" in message


def test_version_2_manifest_of_an_uncompressed_index_loads(tmp_path, random_docs):
    folder = inference_free_index(tmp_path / "idx", random_docs, "none")
    edit_manifest(folder, format_version=2, compression="none")
    assert InvertedIndex.load(folder).compression == "none"
