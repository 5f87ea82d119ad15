"""spire export --to milvus, against milvus-lite (a real Milvus, embedded): what is stored,
and the refusals (existing or foreign collection, other vocabulary or encoder, negative
weights, an unreachable URI)."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip(
    "pymilvus", reason="the [milvus] extra (pymilvus, milvus-lite) is not installed"
)

from indexing import EncoderInfo, InvertedIndex  # noqa: E402
from indexing.milvus import connect, export_matrix, record_for  # noqa: E402
from indexing.milvus_export import export_folder  # noqa: E402
from retrieval.milvus_search import MilvusSearcher, open_milvus  # noqa: E402
from spire.core.errors import SpireError  # noqa: E402

VOCAB = 30522


def write_index(folder, n_docs=60, vocab=VOCAB, mode="siamese", seed=0):
    rng = np.random.default_rng(seed)
    docs = sp.random(n_docs, vocab, density=0.002, format="csr", random_state=rng) * 3
    docs = sp.lil_matrix(docs, dtype=np.float32)
    docs[5] = 0  # an empty document: Milvus refuses empty vectors, spire never returns it
    docs = sp.csr_matrix(docs)
    info = EncoderInfo("splade-tiny", mode)
    idf = np.ones(vocab, np.float32) if mode == "inference-free" else None
    index = InvertedIndex.from_matrix(docs, [f"d{i}" for i in range(n_docs)], info, idf=idf)
    return index.save(folder), index


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    return str(tmp_path_factory.mktemp("milvus") / "lite.db")


def test_export_stores_float_weights_and_finds_the_same(tmp_path, lite):
    folder, index = write_index(tmp_path / "idx")
    summary = export_folder(str(folder), lite, "weights", show_progress=False)
    assert summary["docs"] == 59 and summary["empty_docs_skipped"] == 1
    local, remote = open_milvus(folder, lite, "weights")
    assert remote.n_docs() == 59
    matrix = index.to_matrix()
    stored = remote.document_vector("d3")
    row = matrix[3]
    assert stored == pytest.approx(dict(zip(row.indices.tolist(), row.data.tolist(), strict=True)))
    queries = sp.csr_matrix(matrix[:8].toarray())  # each document as a query: it ranks first
    ours, theirs = local.search_vectors(queries, 5), remote.search(queries, 5)
    for a, b in zip(ours, theirs, strict=True):
        assert [h.docid for h in a] == [h.docid for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], rel=1e-5)
    assert theirs[5] == []  # the empty document's row is an empty query


def test_existing_collection_needs_overwrite(tmp_path, lite):
    folder, _ = write_index(tmp_path / "idx")
    export_folder(str(folder), lite, "again", show_progress=False)
    with pytest.raises(SpireError, match="collection 'again' exists; give --overwrite"):
        export_folder(str(folder), lite, "again", show_progress=False)
    smaller, _ = write_index(tmp_path / "small", n_docs=20, seed=1)
    export_folder(str(smaller), lite, "again", overwrite=True, show_progress=False)
    assert MilvusSearcher(lite, "again").n_docs() == 19


def test_foreign_collection_is_never_replaced(tmp_path, lite):
    from pymilvus import DataType

    client = connect(lite)
    schema = client.create_schema(auto_id=True)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    client.create_collection("theirs", schema=schema)
    folder, _ = write_index(tmp_path / "idx")
    with pytest.raises(SpireError, match="'theirs' was not written by spire export"):
        export_folder(str(folder), lite, "theirs", overwrite=True, show_progress=False)
    assert client.has_collection("theirs")


def test_vocabulary_or_encoder_mismatch_is_one_line(tmp_path, lite):
    folder, _ = write_index(tmp_path / "idx")
    export_folder(str(folder), lite, "mismatch", show_progress=False)
    other, _ = write_index(tmp_path / "other", vocab=1000)
    with pytest.raises(SpireError, match="dimension 30522 but the index's vocabulary has 1000"):
        open_milvus(other, lite, "mismatch")
    free, _ = write_index(tmp_path / "free", mode="inference-free")
    with pytest.raises(SpireError, match=r"exported from splade-tiny \(siamese\)"):
        open_milvus(free, lite, "mismatch")
    with pytest.raises(SpireError, match="no collection 'absent'"):
        open_milvus(folder, lite, "absent")
    with pytest.raises(SpireError, match="--collection 'my-index': letters, digits"):
        export_folder(str(folder), lite, "my-index", show_progress=False)


def test_negative_weights_refused(lite):
    matrix = sp.csr_matrix(np.array([[0.5, -0.1]], np.float32))
    record = record_for(EncoderInfo("splade-tiny", "siamese"), 2, None)
    with pytest.raises(SpireError, match="negative weights"):
        export_matrix(connect(lite), lite, "neg", ["a"], matrix, record, show_progress=False)


def test_unreachable_uri_fails_fast_on_the_command_line(tmp_path):
    folder, _ = write_index(tmp_path / "idx", n_docs=10)
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "spire", "export", str(folder), "--to", "milvus",
         "--uri", "http://127.0.0.1:9", "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert time.monotonic() - start < 30 + 15  # + the interpreter's start-up under load
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("error: --uri http://127.0.0.1:9: cannot reach Milvus")
    )
    assert done.stdout == ""
