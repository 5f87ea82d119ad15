from __future__ import annotations

import json

import numpy as np
import pytest

from indexing import EncoderInfo, InvertedIndex
from indexing.export import export_index, read_opensearch_bulk
from retrieval import Searcher
from spire.core.errors import SpireError


@pytest.fixture
def index(random_docs, inference_free_encoder):
    """Random weights over the first 500 real vocabulary ids, so tokens are real."""
    import scipy.sparse as sp

    vocab = inference_free_encoder.vocab_size
    docs = sp.csr_matrix((random_docs.data, random_docs.indices + 1000, random_docs.indptr),
                         shape=(random_docs.shape[0], vocab))  # fmt: skip
    idf = np.linspace(0.5, 5.0, vocab).astype(np.float32)
    ids = [f"doc-{i}" for i in range(docs.shape[0])]
    return InvertedIndex.from_matrix(docs, ids, EncoderInfo("splade-tiny", "inference-free"),
                                     "uint8", idf=idf)  # fmt: skip


def test_jsonvector_holds_the_integer_impacts(index, inference_free_encoder, tmp_path):
    out = export_index(index, inference_free_encoder.tokenizer, tmp_path / "jv",
                       "lucene-jsonvector")  # fmt: skip
    lines = [json.loads(x) for x in (out / "docs.jsonl").read_text().splitlines()]
    assert [d["id"] for d in lines] == index.docids
    vocab = inference_free_encoder.tokenizer.get_vocab()
    dense = np.zeros((index.n_docs, index.vocab_size), dtype=np.int64)
    for row, doc in enumerate(lines):
        assert doc["contents"] == ""
        for token, weight in doc["vector"].items():
            assert isinstance(weight, int) and weight > 0
            dense[row, vocab[token]] = weight
    expected = np.rint(index.to_matrix().toarray() / index.scale).astype(np.int64)
    np.testing.assert_array_equal(dense, expected)
    meta = json.loads((out / "export.json").read_text())
    assert meta["impact_scale"] == pytest.approx(index.scale)
    assert meta["encoder"]["mode"] == "inference-free"


def test_opensearch_bulk_round_trips_with_identical_scores(index, inference_free_encoder,
                                                           tmp_path):  # fmt: skip
    tokenizer = inference_free_encoder.tokenizer
    out = export_index(index, tokenizer, tmp_path / "os", "opensearch", field="emb")
    mapping = json.loads((out / "mapping.json").read_text())
    assert mapping["mappings"]["properties"]["emb"]["type"] == "rank_features"
    idf_table = json.loads((out / "idf.json").read_text())
    assert idf_table[tokenizer.convert_ids_to_tokens(2000)] == pytest.approx(index.idf[2000],
                                                                             1e-5)  # fmt: skip
    ids, matrix = read_opensearch_bulk(out / "bulk.ndjson", tokenizer, field="emb")
    assert ids == index.docids
    again = InvertedIndex.from_matrix(matrix, ids, index.encoder, "float32", idf=index.idf)
    rng = np.random.default_rng(3)
    queries = (rng.random((20, index.vocab_size)) < 0.002) * rng.random((20, index.vocab_size))
    import scipy.sparse as sp

    queries = sp.csr_matrix(queries.astype(np.float32))
    first = Searcher(index, encoder=object()).search_vectors(queries, 50)
    second = Searcher(again, encoder=object()).search_vectors(queries, 50)
    for a, b in zip(first, second, strict=True):
        assert [h.docid for h in a] == [h.docid for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-6)


def test_export_refuses_an_existing_folder(index, inference_free_encoder, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(SpireError, match="already exists"):
        export_index(index, inference_free_encoder.tokenizer, tmp_path / "out", "opensearch")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
    # overwrite replaces only what spire wrote: a folder of the user's files stays
    with pytest.raises(SpireError, match="is not a spire index"):
        export_index(index, inference_free_encoder.tokenizer, tmp_path / "out", "opensearch",
                     overwrite=True)  # fmt: skip
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]
    export_index(index, inference_free_encoder.tokenizer, tmp_path / "exp", "opensearch")
    # an earlier export is replaced
    export_index(index, inference_free_encoder.tokenizer, tmp_path / "exp", "lucene-jsonvector",
                 overwrite=True)  # fmt: skip
    assert (tmp_path / "exp" / "docs.jsonl").is_file()
    assert not (tmp_path / "exp" / "bulk.ndjson").exists()


def test_unknown_format_and_bad_bulk(index, inference_free_encoder, tmp_path):
    with pytest.raises(SpireError, match="unknown export format"):
        export_index(index, inference_free_encoder.tokenizer, tmp_path / "x", "parquet")
    bad = tmp_path / "bulk.ndjson"
    bad.write_text('{"index": {"_id": "a"}}\n{"emb": {"no-such-token-xyz": 1.0}}\n')
    with pytest.raises(SpireError, match=r"bulk.ndjson:2: token"):
        read_opensearch_bulk(bad, inference_free_encoder.tokenizer, field="emb")
