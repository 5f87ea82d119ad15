"""SPLADE exported to ONNX with its pooling, run by onnxruntime (issue 7)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from encoders import load_encoder
from tests.conftest import BUNDLED_CRANFIELD, LEXICAL

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def onnx_folder(tmp_path_factory, lexical_model_path):
    """splade-tiny exported from a folder that has lexical.json and idf.json."""
    from encoders.idf import save_idf_json
    from encoders.onnx_model import export_onnx

    source = tmp_path_factory.mktemp("source") / "tiny"
    shutil.copytree(lexical_model_path, source)
    enc = load_encoder(str(source), "inference-free")
    save_idf_json(enc.fit_idf(_texts(20)), enc.tokenizer, source / "idf.json")
    return export_onnx(str(source), tmp_path_factory.mktemp("onnx") / "tiny")


def _texts(n: int) -> list[str]:
    with open(BUNDLED_CRANFIELD / "corpus.jsonl", encoding="utf-8") as f:
        docs = [json.loads(line) for _, line in zip(range(n), f, strict=False)]
    return [f"{d.get('title', '')} {d['text']}".strip() for d in docs] + ["", "word " * 400]


def test_onnx_graph_includes_the_pooling_and_matches_torch(onnx_folder, siamese_encoder):
    texts = _texts(60)
    reference = siamese_encoder.encode_documents(texts)
    fp32 = load_encoder(str(onnx_folder), "siamese")
    got = fp32.encode_documents(texts)
    assert got.shape == reference.shape
    assert abs(got - reference).max() <= 1e-4
    assert fp32.stats.truncated >= 1 and fp32.stats.empty == 1
    # The int8 graph is an approximation: close, with nearly the same support.
    int8 = load_encoder(str(onnx_folder), "siamese", precision="int8").encode_documents(texts)
    assert abs(int8 - reference).max() < 1.0
    assert abs(int8.nnz - reference.nnz) <= 0.05 * reference.nnz


def test_onnx_folder_works_inference_free_and_refuses_bf16(onnx_folder):
    from spire.core.errors import SpireError

    enc = load_encoder(str(onnx_folder), "inference-free")
    enc.fit_idf(_texts(20))
    assert enc.encode_documents(_texts(3)).nnz > 0
    with pytest.raises(SpireError, match="fp32 or int8"):
        load_encoder(str(onnx_folder), "siamese", precision="bf16").encode_documents(["x"])


def test_onnx_folder_keeps_idf_json_and_the_lexical_term(onnx_folder, lexical_model_path):
    from encoders.lexical import Lexical

    texts = _texts(5)
    enc = load_encoder(str(onnx_folder), "inference-free")
    assert enc.idf is not None and enc.lexical == Lexical(**LEXICAL)
    reference = load_encoder(str(lexical_model_path), "inference-free").encode_documents(texts)
    assert abs(enc.encode_documents(texts) - reference).max() <= 1e-4


def test_export_cli_refuses_an_existing_folder(onnx_folder):
    out = subprocess.run(
        [sys.executable, "-m", "spire", "models", "export-onnx", "splade-tiny",
         "--out", str(onnx_folder)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "already exists" in out.stderr
