"""SPLADE built from an encoder without an MLM head (issue 23 step 2): all-MiniLM-L6-v2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from encoders import load_encoder
from encoders.mlm_head import MARKER, build_splade, splade_from_backbone
from encoders.splade import SpladeEncoder
from spire.core.errors import SpireError
from tests.conftest import BUNDLED_CRANFIELD


def _cranfield(n: int) -> list[str]:
    with open(BUNDLED_CRANFIELD / "corpus.jsonl", encoding="utf-8") as f:
        docs = [json.loads(line) for _, line in zip(range(n), f, strict=False)]
    return [f"{d.get('title', '')} {d['text']}".strip() for d in docs]


@pytest.fixture(scope="module")
def minilm_splade(minilm_path, tmp_path_factory):
    """MiniLM + a new SPLADE head, built once in memory and saved to a folder."""
    from encoders.loading import load_base_model, load_tokenizer

    tokenizer = load_tokenizer(str(minilm_path))
    mlm = splade_from_backbone(load_base_model(str(minilm_path)), tokenizer, terms_per_doc=64)
    folder = tmp_path_factory.mktemp("minilm-splade") / "model"
    mlm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return mlm, tokenizer, folder


def test_head_is_tied_and_identity_initialised(minilm_splade):
    mlm, tokenizer, _ = minilm_splade
    assert type(mlm).__name__ == "BertForMaskedLM"
    assert mlm.get_output_embeddings().weight is mlm.get_input_embeddings().weight
    dense = mlm.cls.predictions.transform.dense
    assert torch.equal(dense.weight, torch.eye(dense.in_features))
    bias = mlm.get_output_embeddings().bias.detach()
    special = sorted(set(tokenizer.all_special_ids))
    ordinary = np.setdiff1d(np.arange(bias.numel()), special)
    assert bias[special].max() < bias[ordinary].min()  # special tokens never fire
    assert torch.unique(bias[ordinary]).numel() == 1 and bias[ordinary][0] < 0


def test_folder_loads_by_path_with_identical_sparse_cranfield_vectors(minilm_splade):
    mlm, tokenizer, folder = minilm_splade
    texts = _cranfield(6)
    built = SpladeEncoder("built", mlm, tokenizer, head="reference", doc_max_length=128)
    in_memory = built.encode_documents(texts)
    loaded = load_encoder(str(folder), head="reference", doc_max_length=128)
    from_folder = loaded.encode_documents(texts)
    assert from_folder.shape == (6, 30522)
    assert abs(from_folder - in_memory).max() == 0
    assert np.isfinite(from_folder.data).all() and (from_folder.data > 0).all()
    per_doc = from_folder.getnnz(axis=1)
    assert (per_doc >= 5).all() and (per_doc < 1000).all(), per_doc  # sparse, not empty
    # The untrained head already ranks the document's own words high.
    top = loaded.tokenizer.convert_ids_to_tokens(from_folder[0].toarray()[0].argsort()[-15:])
    own = set(loaded.tokenizer.tokenize(texts[0]))
    assert len(own & set(top)) >= 5, (top, texts[0])
    pruned = SpladeEncoder("p", loaded.model, loaded.tokenizer, head="pruned", doc_max_length=128)
    assert abs(pruned.encode_documents(texts) - from_folder).max() < 1e-4


def test_backbone_without_word_embeddings_is_refused():
    from transformers import ViTConfig, ViTModel

    vit = ViTModel(ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=32, image_size=8, patch_size=4))  # fmt: skip
    with pytest.raises(SpireError, match=r"^ViTModel has no input word embeddings"):
        splade_from_backbone(vit, tokenizer=None)


@pytest.mark.full
def test_build_splade_writes_a_marked_folder_that_exports_to_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    from encoders.onnx_model import export_onnx

    folder = build_splade("all-MiniLM-L6-v2", tmp_path / "model", texts=_cranfield(20))
    record = json.loads((folder / MARKER).read_text())
    assert record["backbone_class"] == "BertModel" and record["bias_value"] < 0
    with pytest.raises(SpireError, match="already exists"):
        build_splade("all-MiniLM-L6-v2", folder)
    texts = _cranfield(8)
    torch_vectors = load_encoder(str(folder), head="reference").encode_documents(texts)
    onnx = export_onnx(str(folder), tmp_path / "onnx")
    got = load_encoder(str(onnx)).encode_documents(texts)
    assert abs(got - torch_vectors).max() <= 1e-4
