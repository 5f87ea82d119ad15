from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from encoders import load_encoder
from encoders.bm25 import bm25_idf
from encoders.idf import document_frequencies, load_idf_json, save_idf_json
from spire.core.errors import SpireError


def test_bm25_idf_formula():
    idf = bm25_idf(np.array([0, 1, 5, 10]), 10)
    expected = [math.log(1 + (10 - df + 0.5) / (df + 0.5)) for df in (0, 1, 5, 10)]
    np.testing.assert_allclose(idf, expected, rtol=1e-6)
    assert (idf > 0).all()


def test_document_frequency_counts_each_doc_once_and_truncates(inference_free_encoder):
    tok = inference_free_encoder.tokenizer
    vocab = tok.get_vocab()
    docs = ["apple apple apple", "apple pear", "pear " * 10 + "plum"]
    df = document_frequencies(tok, docs, max_length=256)
    assert df[vocab["apple"]] == 2 and df[vocab["pear"]] == 2 and df[vocab["plum"]] == 1
    truncated = document_frequencies(tok, docs, max_length=8)  # [CLS] + 6 tokens + [SEP]
    assert truncated[vocab["plum"]] == 0


def test_query_is_distinct_tokens_weighted_by_idf(inference_free_encoder):
    enc = inference_free_encoder
    enc.fit_idf(["apple pear", "apple plum", "cherry"])
    vocab = enc.tokenizer.get_vocab()
    q = enc.encode_queries(["apple apple plum", "", "   "])
    assert q.shape == (3, enc.vocab_size)
    assert q[1].nnz == 0 and q[2].nnz == 0
    row = q[0].toarray()[0]
    assert set(np.flatnonzero(row)) == {vocab["apple"], vocab["plum"]}
    assert row[vocab["apple"]] == pytest.approx(math.log(1 + 1.5 / 2.5))
    assert row[vocab["plum"]] == pytest.approx(math.log(1 + 2.5 / 1.5))


def test_query_side_never_loads_the_model(splade_tiny_path):
    enc = load_encoder("splade-tiny", "inference-free", idf=np.ones(30522, dtype=np.float32))
    enc.encode_queries(["no model needed"])
    assert enc._document_encoder is None


def test_idf_json_round_trip_and_model_folder_pickup(tmp_path, splade_tiny_path):
    enc = load_encoder("splade-tiny", "inference-free")
    idf = enc.fit_idf(["alpha beta", "beta gamma"])
    save_idf_json(idf, enc.tokenizer, tmp_path / "idf.json")
    table = json.loads((tmp_path / "idf.json").read_text())
    assert table["beta"] == pytest.approx(float(idf[enc.tokenizer.get_vocab()["beta"]]), 1e-5)
    np.testing.assert_allclose(load_idf_json(tmp_path / "idf.json", enc.tokenizer), idf, 1e-5)
    # A model folder that ships an OpenSearch-style idf.json is used as is.
    folder = tmp_path / "model"
    folder.mkdir()
    for f in splade_tiny_path.iterdir():
        (folder / f.name).symlink_to(f)
    (folder / "idf.json").write_text(json.dumps({"alpha": 3.0, "[unused0]": 1.0, "zz-no": 2}))
    loaded = load_encoder(str(folder), "inference-free")
    assert loaded.idf[loaded.tokenizer.get_vocab()["alpha"]] == 3.0
    assert np.count_nonzero(loaded.idf) == 2
    assert loaded.idf_from == "model"
    # idf_source="corpus" leaves idf.json aside: the IDF is fitted on the indexed corpus.
    fitted = load_encoder(str(folder), "inference-free", idf_source="corpus")
    assert fitted.idf is None and fitted.idf_from is None
    fitted.fit_idf(["alpha beta"])
    assert fitted.idf_from == "corpus" and np.count_nonzero(fitted.idf) == fitted.vocab_size
    with pytest.raises(SpireError, match="unknown idf source 'training'"):
        load_encoder(str(folder), "inference-free", idf_source="training")


def test_punctuation_pieces_are_not_searched(inference_free_encoder):
    enc = copy.copy(inference_free_encoder)
    enc.idf = np.ones(enc.vocab_size, dtype=np.float32)
    q = enc.encode_queries(["?!...", "p53-mediated risk?", "\u00b0 \u00a7 --"])
    tokens = enc.tokenizer.convert_ids_to_tokens
    assert q[0].nnz == 0 and q[2].nnz == 0
    assert sorted(tokens(q[1].indices)) == ["##53", "mediated", "p", "risk"]


def test_whole_words_are_the_words_kept_as_one_piece(inference_free_encoder):
    tokens = inference_free_encoder.tokenizer.convert_ids_to_tokens
    assert tokens(inference_free_encoder.whole_words("wing lift, xqzvw?")) == ["wing", "lift"]
    assert inference_free_encoder.whole_words("xqzvw blorptangle ?").size == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not valid JSON"), ("[1, 2]", "token -> weight"), ('{"a": "x"}', "'a'")],
)
def test_bad_idf_json(tmp_path, inference_free_encoder, content, message):
    path = tmp_path / "idf.json"
    path.write_text(content)
    with pytest.raises(SpireError, match=message):
        load_idf_json(path, inference_free_encoder.tokenizer)
