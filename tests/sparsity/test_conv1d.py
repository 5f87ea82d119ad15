"""Hugging Face `Conv1D` (GPT-2's layers, weight stored in x out) is pruned as the Linear
layer it computes: the same mask on the transposed weight, rows = outputs; saved and
loaded back bit for bit. The model is a real GPT-2 (2 layers, 32 wide), randomly
initialised with a fixed seed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sparsity.pruning import prune
from sparsity.storage import load_into, save_pruned


@pytest.fixture()
def gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    return GPT2LMHeadModel(config).eval()


def _calib() -> list[dict]:
    gen = torch.Generator().manual_seed(1)
    return [{"input_ids": torch.randint(0, 64, (4, 16), generator=gen)} for _ in range(2)]


def _as_linear(conv) -> nn.Linear:
    linear = nn.Linear(conv.weight.shape[0], conv.weight.shape[1])
    linear.weight.data.copy_(conv.weight.T)
    linear.bias.data.copy_(conv.bias)
    return linear


@pytest.mark.parametrize("method", ["wanda", "sparsegpt"])
def test_conv1d_is_pruned_as_the_linear_layer_it_computes(gpt2, method):
    from transformers.pytorch_utils import Conv1D

    conv = gpt2.transformer.h[0].mlp.c_fc  # 32 in -> 128 out
    assert isinstance(conv, Conv1D)
    linear = _as_linear(conv)
    x = torch.randn(3, 8, 32, generator=torch.Generator().manual_seed(2))
    calib = [x[i : i + 1] for i in range(3)]
    prune(conv, method, 0.5, calib)
    prune(linear, method, 0.5, calib)
    assert torch.equal(conv.weight.T == 0, linear.weight == 0)  # the same mask
    # and the same weights (SparseGPT's updates too; a transposed layout may round apart)
    assert torch.allclose(conv.weight.T, linear.weight, atol=1e-6)
    per_output = (conv.weight == 0).float().mean(0)  # Conv1D: a column per output
    if method == "wanda":
        assert torch.all(per_output == 0.5)  # Wanda compares within each output row
    assert float((conv.weight == 0).float().mean()) == pytest.approx(0.5, abs=0.01)


def test_a_pruned_gpt2_saves_and_loads_back_bitwise_equal(gpt2, tmp_path):
    from transformers import GPT2LMHeadModel

    result = prune(gpt2, "wanda", 0.5, _calib(), nm=(2, 4))
    assert len(result.masks) == 8  # c_attn, c_proj, c_fc, mlp.c_proj in each of 2 blocks
    save_pruned(gpt2, tmp_path / "out", {"method": "wanda"}, nm=(2, 4))
    torch.manual_seed(5)  # a different random model, then the stored weights
    loaded = GPT2LMHeadModel(gpt2.config).eval()
    load_into(loaded, tmp_path / "out")
    for key, tensor in gpt2.state_dict().items():
        got = loaded.state_dict()[key]
        assert torch.equal(got.view(torch.uint8), tensor.contiguous().view(torch.uint8)), key
    batch = _calib()[0]
    assert torch.equal(loaded(**batch).logits, gpt2(**batch).logits)
