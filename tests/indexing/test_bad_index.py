"""A corrupt, truncated or foreign index folder gives one SpireError naming the file at fault.

These use the uncompressed layout (doc_ids.npy); test_bad_packed_index.py does the same
for packed doc ids."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from indexing import EncoderInfo, InvertedIndex
from spire.core.errors import SpireError


def inference_free_index(folder: Path, docs: sp.csr_matrix, compression: str) -> Path:
    """An inference-free uint8 index (so idf.npy is there too)."""
    idf = np.linspace(0.5, 4.0, docs.shape[1], dtype=np.float32)
    index = InvertedIndex.from_matrix(
        docs,
        [f"d{i}" for i in range(docs.shape[0])],
        EncoderInfo(name="splade-tiny", mode="inference-free"),
        "uint8",
        idf=idf,
        compression=compression,
    )
    return index.save(folder)


@pytest.fixture
def index_dir(tmp_path, random_docs) -> Path:
    return inference_free_index(tmp_path / "idx", random_docs, "none")


def edit_manifest(folder: Path, **changes) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def flip_byte(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


def load_error(folder: Path, verify: bool = True) -> str:
    with pytest.raises(SpireError) as info:
        InvertedIndex.load(folder, verify=verify)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_the_fixture_index_loads(index_dir):
    index = InvertedIndex.load(index_dir)
    assert index.n_docs == 200
    assert index.idf is not None


def test_unknown_format_version(index_dir):
    edit_manifest(index_dir, format_version=99)
    message = load_error(index_dir)
    assert "manifest.json" in message
    assert "99" in message
    assert "version" in message


def test_format_version_missing(index_dir):
    manifest = json.loads((index_dir / "manifest.json").read_text())
    del manifest["format_version"]
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    assert "manifest.json" in load_error(index_dir)


def test_not_a_spire_manifest(index_dir):
    edit_manifest(index_dir, format="lucene-index")
    message = load_error(index_dir)
    assert "manifest.json" in message
    assert "not a spire index" in message


@pytest.mark.parametrize(
    "content", [b"{not json", b"", b"[1, 2, 3]", b'"a string"', b"\xff\xfe{}"], ids=repr
)
def test_malformed_manifest(index_dir, content):
    (index_dir / "manifest.json").write_bytes(content)
    assert "manifest.json" in load_error(index_dir)


def test_manifest_with_missing_fields(index_dir):
    manifest = json.loads((index_dir / "manifest.json").read_text())
    del manifest["encoder"]
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    assert "manifest.json" in load_error(index_dir)


def test_manifest_with_unknown_fields(index_dir):
    edit_manifest(index_dir, surprise=1)
    assert "manifest.json" in load_error(index_dir)


def test_missing_manifest(index_dir):
    (index_dir / "manifest.json").unlink()
    message = load_error(index_dir)
    assert "manifest.json" in message
    assert "not a spire index" in message


def test_missing_folder(tmp_path):
    message = load_error(tmp_path / "nowhere")
    assert "nowhere" in message


def test_a_file_instead_of_a_folder(tmp_path):
    (tmp_path / "idx").write_text("hello")
    assert "idx" in load_error(tmp_path / "idx")


@pytest.mark.parametrize("verify", [True, False])
def test_truncated_impacts(index_dir, verify):
    path = index_dir / "postings" / "impacts.npy"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    message = load_error(index_dir, verify=verify)
    assert "impacts.npy" in message
    assert "truncated" in message


@pytest.mark.parametrize("rel", ["postings/doc_ids.npy", "postings/indptr.npy", "idf.npy"])
def test_truncation_caught_without_verify(index_dir, rel):
    path = index_dir / rel
    path.write_bytes(path.read_bytes()[:-4])
    assert Path(rel).name in load_error(index_dir, verify=False)


def test_appended_bytes_are_caught(index_dir):
    path = index_dir / "postings" / "indptr.npy"
    path.write_bytes(path.read_bytes() + b"\0\0\0\0")
    assert "indptr.npy" in load_error(index_dir, verify=False)


def test_byte_flipped_in_doc_ids(index_dir):
    path = index_dir / "postings" / "doc_ids.npy"
    size = path.stat().st_size
    flip_byte(path, size // 2)
    assert path.stat().st_size == size
    message = load_error(index_dir)
    assert "doc_ids.npy" in message
    assert "sha256" in message


def test_byte_flipped_in_impacts(index_dir):
    path = index_dir / "postings" / "impacts.npy"
    flip_byte(path, path.stat().st_size - 1)
    assert "impacts.npy" in load_error(index_dir)


def test_garbage_npy_header_caught_by_sha256(index_dir):
    path = index_dir / "postings" / "indptr.npy"
    data = path.read_bytes()
    path.write_bytes(b"GARBAGE!" + data[8:])
    message = load_error(index_dir)
    assert "indptr.npy" in message


def header_end(data: bytes) -> int:
    return data.index(b"}")


def replace_header(data: bytes, text: bytes) -> bytes:
    """Overwrite the header dict (from byte 10 to its closing brace) with `text`, same size."""
    end = header_end(data) + 1
    assert len(text) <= end - 10
    return data[:10] + text.ljust(end - 10) + data[end:]


def resize_shape(data: bytes, grow: bool) -> bytes:
    """Claim more (999...) or fewer (1) elements than stored, keeping the header's size."""
    header = data[: header_end(data)].decode("latin-1")
    n = header.split("'shape': (")[1].split(",")[0]
    new = "9" * len(n) if grow else "1".rjust(len(n))
    assert int(new) != int(n)
    return data.replace(f"({n},)".encode(), f"({new},)".encode(), 1)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda data: b"GARBAGE!" + data[8:], id="bad-magic"),
        pytest.param(lambda data: replace_header(data, b"'not a dict'"), id="not-a-dict"),
        pytest.param(lambda data: replace_header(data, b""), id="blank-header"),
        pytest.param(lambda data: replace_header(data, b"{'descr': 5}"), id="missing-keys"),
        pytest.param(
            lambda data: data.replace(b"'descr': '<i4'", b"'descr': '<i8'"), id="wrong-dtype"
        ),
        pytest.param(lambda data: resize_shape(data, grow=True), id="shape-too-large"),
        pytest.param(
            lambda data: data.replace(b"'shape': (", b"'shape': (-").replace(b"  \n", b" \n"),
            id="negative-shape",
        ),
        pytest.param(
            lambda data: data[:10] + b"x" * (header_end(data) - 10) + data[header_end(data) :],
            id="unbalanced-brace",
        ),
    ],
)
def test_garbage_npy_header_without_verify(index_dir, mangle):
    path = index_dir / "postings" / "doc_ids.npy"
    data = path.read_bytes()
    mangled = mangle(data)
    assert len(mangled) == len(data) and mangled != data  # same size: only content changed
    path.write_bytes(mangled)
    message = load_error(index_dir, verify=False)
    assert "doc_ids.npy" in message


def test_npy_header_shape_shrunk_without_verify(index_dir):
    path = index_dir / "postings" / "doc_ids.npy"
    path.write_bytes(resize_shape(path.read_bytes(), grow=False))
    message = load_error(index_dir, verify=False)
    assert "inconsistent" in message


def test_docids_json_corrupted(index_dir):
    path = index_dir / "docids.json"
    data = path.read_bytes()
    path.write_bytes(b"{" + data[1:])  # same size, no longer valid JSON
    message = load_error(index_dir)
    assert "docids.json" in message


@pytest.mark.parametrize(
    "content", [b'["d0", "d1"', b'{"d0": 1}', b"[1, 2, 3]", b"\xff\xfe[]"], ids=repr
)
def test_docids_json_corrupted_without_verify(index_dir, content):
    path = index_dir / "docids.json"
    size = path.stat().st_size
    # Pad with trailing spaces to the recorded size so only the content check can object.
    path.write_bytes(content + b" " * (size - len(content)))
    assert "docids.json" in load_error(index_dir, verify=False)


@pytest.mark.parametrize(
    "rel",
    [
        "postings/impacts.npy",
        "postings/doc_ids.npy",
        "postings/indptr.npy",
        "docids.json",
        "idf.npy",
    ],
)
def test_missing_listed_file(index_dir, rel):
    (index_dir / rel).unlink()
    message = load_error(index_dir)
    assert Path(rel).name in message
    assert "missing" in message


def test_inference_free_index_without_idf(index_dir):
    manifest = json.loads((index_dir / "manifest.json").read_text())
    del manifest["files"]["idf.npy"]
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    (index_dir / "idf.npy").unlink()
    assert "idf.npy" in load_error(index_dir)


def test_files_mixed_from_another_index(index_dir, tmp_path):
    # A consistent but different index's docids.json, with the manifest entry updated to match:
    # only the structural check can notice.
    other = InvertedIndex.from_matrix(
        sp.csr_matrix(np.eye(3, 500, dtype=np.float32)),
        ["x", "y", "z"],
        EncoderInfo(name="splade-tiny", mode="siamese"),
    ).save(tmp_path / "other")
    (index_dir / "docids.json").write_bytes((other / "docids.json").read_bytes())
    manifest = json.loads((index_dir / "manifest.json").read_text())
    other_manifest = json.loads((other / "manifest.json").read_text())
    manifest["files"]["docids.json"] = other_manifest["files"]["docids.json"]
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    message = load_error(index_dir)
    assert "docids.json" in message
    assert "inconsistent" in message


def test_manifest_vocab_size_disagrees(index_dir):
    edit_manifest(index_dir, vocab_size=30522)
    message = load_error(index_dir)
    assert "indptr" in message
    assert "30522" in message


def test_manifest_files_not_an_object(index_dir):
    edit_manifest(index_dir, files=["docids.json"])
    assert "manifest.json" in load_error(index_dir)


def test_manifest_file_entry_not_an_object(index_dir):
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["files"]["docids.json"] = 5
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    assert "manifest.json" in load_error(index_dir)


def test_manifest_scale_not_a_number(index_dir):
    edit_manifest(index_dir, scale="abc")
    assert "manifest.json" in load_error(index_dir)


@pytest.mark.parametrize(
    "lexical",
    [{"weight": -1, "k1": 0.9}, {"weight": "1", "k1": 0.9}, {"weight": 1}, [1, 0.9], 3],
    ids=["negative", "string", "no-k1", "list", "number"],
)
def test_manifest_with_a_bad_lexical_term(index_dir, lexical):
    manifest = json.loads((index_dir / "manifest.json").read_text())
    edit_manifest(index_dir, encoder={**manifest["encoder"], "lexical": lexical})
    message = load_error(index_dir)
    assert "manifest.json" in message and "encoder.lexical" in message


def test_manifest_with_an_unsupported_impact_dtype(index_dir):
    edit_manifest(index_dir, impact_dtype="int64")
    message = load_error(index_dir)
    assert "manifest.json" in message and "impact_dtype 'int64'" in message


@pytest.mark.parametrize("rel", ["../outside.npy", "/etc/hostname", "postings/../../x.npy"])
def test_manifest_files_outside_the_index_folder_are_refused(index_dir, rel):
    """A manifest never makes a reader open (or hash) a file outside its folder."""
    outside = index_dir.parent / "outside.npy"
    outside.write_bytes(b"x" * 10)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["files"][rel] = {"bytes": 10, "sha256": "0" * 64}
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    message = load_error(index_dir)
    assert "manifest.json" in message and "bad path" in message and rel in message


def test_unknown_mode_names_the_manifest(index_dir):
    manifest = json.loads((index_dir / "manifest.json").read_text())
    edit_manifest(index_dir, encoder={**manifest["encoder"], "mode": "telepathic"})
    message = load_error(index_dir)
    assert str(index_dir / "manifest.json") in message and "'telepathic'" in message
