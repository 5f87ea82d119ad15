"""DenseEncoder with the real all-MiniLM-L6-v2: MODELS.md's checks and sentence-transformers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from encoders.dense import load_dense_encoder
from spire.core.errors import SpireError

QUERY = "what is the capital of france"
PARIS = "Paris is the capital and largest city of France."
UNRELATED = "The mitochondria is the powerhouse of the cell."
TEXTS = [
    PARIS,
    UNRELATED,
    "Photosynthesis converts light energy into chemical energy. " * 20,  # long: sorted first
    "tiny",
    "Berlin is the capital of Germany.",
]


def test_models_md_checks(dense_encoder):
    q = dense_encoder.encode_queries([QUERY])
    d = dense_encoder.encode_documents([PARIS, UNRELATED])
    assert q.dtype == np.float32 and q.shape == (1, 384) and d.shape == (2, 384)
    cosine = (q @ d.T)[0]
    assert cosine[0] == pytest.approx(0.83, abs=0.01)  # MODELS.md: 0.83
    assert abs(cosine[1]) < 0.1  # MODELS.md: about 0


def test_unit_vectors_in_input_order(dense_encoder):
    together = dense_encoder.encode_documents(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    # Length-sorted batching must put each vector back in its text's row.
    one_by_one = np.vstack([dense_encoder.encode_documents([t]) for t in TEXTS])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_blank_texts_give_zero_vectors(dense_encoder):
    out = dense_encoder.encode_documents(["", PARIS, "   "])
    assert not out[0].any() and not out[2].any()
    assert np.linalg.norm(out[1]) == pytest.approx(1.0, abs=1e-5)
    assert dense_encoder.encode_queries([]).shape == (0, 384)


def test_max_lengths_come_from_sentence_bert_config(dense_encoder, minilm_path):
    config = json.loads((minilm_path / "sentence_bert_config.json").read_text())
    assert dense_encoder.doc_max_length == config["max_seq_length"] == 256
    assert dense_encoder.query_max_length == 64
    explicit = load_dense_encoder(str(minilm_path), query_max_length=16, doc_max_length=32)
    assert (explicit.query_max_length, explicit.doc_max_length) == (16, 32)
    assert explicit.name == str(minilm_path.resolve())


def test_truncation_follows_max_length(dense_encoder):
    # Two texts that agree on their first 32 tokens encode identically when cut at 32.
    head = "the boundary layer of a hypersonic flow over a flat plate " * 3
    a, b = head + "heat transfer", head + "buckling of shells under pressure"
    cut = dense_encoder.encode([a, b], max_length=32)
    np.testing.assert_allclose(cut[0], cut[1], atol=1e-6)
    assert not np.allclose(dense_encoder.encode([a, b], max_length=256)[0], cut[1], atol=1e-3)


def test_matches_sentence_transformers(dense_encoder, minilm_path):
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(str(minilm_path), device="cpu")
    assert model.max_seq_length == dense_encoder.doc_max_length
    theirs = model.encode(TEXTS, batch_size=2, convert_to_numpy=True)
    np.testing.assert_allclose(dense_encoder.encode_documents(TEXTS), theirs, atol=1e-5)
    np.testing.assert_allclose(
        dense_encoder.encode_queries([QUERY]), model.encode([QUERY]), atol=1e-5
    )


def test_unknown_model_names_what_was_tried():
    with pytest.raises(SpireError) as err:
        load_dense_encoder("no-such-dense-model-xyz")
    message = str(err.value)
    assert "no-such-dense-model-xyz" in message
    assert "local folder" in message and "registry" in message and "hub" in message


def test_other_pooling_is_refused(tmp_path, minilm_path):
    # A sentence-transformers folder that pools with CLS: same weights, other vectors.
    folder = tmp_path / "cls-model"
    folder.mkdir()
    for f in minilm_path.iterdir():
        if f.is_file():
            (folder / f.name).symlink_to(f)
    (folder / "1_Pooling").mkdir()
    config = {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(config))
    with pytest.raises(SpireError, match=r"1_Pooling/config.json: only mean pooling.*'cls_token'"):
        load_dense_encoder(str(folder))
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": "max"}))
    with pytest.raises(SpireError, match="only mean pooling"):
        load_dense_encoder(str(folder))


def test_bad_sentence_bert_config_is_named(tmp_path, minilm_path):
    folder = tmp_path / "bad-config"
    folder.mkdir()
    for f in minilm_path.iterdir():
        if f.is_file() and f.name != "sentence_bert_config.json":
            (folder / f.name).symlink_to(f)
    (folder / "sentence_bert_config.json").write_text('{"max_seq_length": "long"}')
    with pytest.raises(SpireError, match="sentence_bert_config.json: max_seq_length"):
        load_dense_encoder(str(folder))
