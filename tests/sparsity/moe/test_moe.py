"""MoEfication on splade-tiny: balanced experts, all experts equal the dense model,
the grouped products equal a per-token reference, batched sequence routing equals one
sequence at a time, and a partition for another model is refused."""

from __future__ import annotations

import copy

import pytest
import torch

from sparsity import moe
from sparsity.moe.ffn import MoEFeedForward
from sparsity.moe.partition import balanced_kmeans
from spire.core.errors import SpireError


@pytest.fixture(scope="module")
def calib(tiny_tokenizer):
    from tests.sparsity.conftest import TEXTS

    ids = tiny_tokenizer(" ".join(TEXTS * 6), add_special_tokens=False)["input_ids"]
    windows = torch.tensor(ids[: 4 * 64]).reshape(4, 64)
    return [{"input_ids": windows, "attention_mask": torch.ones_like(windows)}]


def _hidden(model, batch) -> torch.Tensor:
    with torch.no_grad():
        return model(**batch, output_hidden_states=True).hidden_states[-1]


def test_balanced_kmeans_gives_equal_experts():
    rows = torch.randn(96, 16)
    labels = balanced_kmeans(rows, 8)
    assert torch.bincount(labels, minlength=8).tolist() == [12] * 8


@pytest.mark.parametrize("routing", ["token", "sequence"])
@pytest.mark.parametrize("router", ["centroid", "fitted"])
def test_all_experts_active_equals_dense(tiny_model, calib, routing, router):
    section = moe.moefy(tiny_model, 8, 8, calib, router=router, routing=routing)
    moefied = moe.apply(copy.deepcopy(tiny_model), section)
    assert sum(isinstance(m, MoEFeedForward) for m in moefied.modules()) == 2
    batch = {k: v[:2, :20] for k, v in calib[0].items()}
    torch.testing.assert_close(
        _hidden(moefied, batch), _hidden(tiny_model, batch), atol=1e-5, rtol=0
    )


def test_grouped_products_equal_a_per_token_reference(tiny_model, calib):
    section = moe.moefy(tiny_model, 8, 2, calib, router="fitted", routing="token")
    moefied = moe.apply(copy.deepcopy(tiny_model), section)
    layer = moefied.bert.encoder.layer[0].intermediate
    x = torch.randn(1, 7, 128)
    with torch.no_grad():
        got = layer(x)[0]
        flat = x[0]
        chosen = (flat @ layer.router_w.T + layer.router_b).topk(2, dim=1).indices
        for t in range(len(flat)):
            want = sum(
                layer.activation(layer.w_up[e] @ flat[t] + layer.b_up[e]) @ layer.w_down[e]
                for e in chosen[t].tolist()
            )
            torch.testing.assert_close(got[t], want, atol=1e-5, rtol=1e-5)


def test_sequence_routing_ignores_padding(tiny_model, tiny_tokenizer):
    from tests.sparsity.conftest import TEXTS

    section = moe.moefy(tiny_model, 8, 2, None, router="centroid", routing="sequence")
    moefied = moe.apply(copy.deepcopy(tiny_model), section)
    batch = tiny_tokenizer(TEXTS[:2], return_tensors="pt", padding=True)
    together = _hidden(moefied, dict(batch))
    for i, text in enumerate(TEXTS[:2]):
        alone = _hidden(moefied, dict(tiny_tokenizer([text], return_tensors="pt")))
        n = alone.shape[1]
        torch.testing.assert_close(together[i, :n], alone[0], atol=1e-5, rtol=1e-5)


def test_bad_splits_and_foreign_partitions_are_refused(tiny_model, calib):
    with pytest.raises(SpireError, match="top=9 is more than experts=8"):
        moe.moefy(tiny_model, 8, 9, calib)
    with pytest.raises(SpireError, match="experts=7 does not divide the layer's 512 neurons"):
        moe.moefy(tiny_model, 7, 2, calib)
    section = moe.moefy(tiny_model, 8, 2, None, router="centroid")
    wrong = copy.deepcopy(section)
    wrong["layers"][0]["experts"][0][0] = wrong["layers"][0]["experts"][1][0]
    with pytest.raises(SpireError, match="not an equal split"):
        moe.apply(copy.deepcopy(tiny_model), wrong)
    with pytest.raises(SpireError, match="does not match the model"):
        moe.apply(copy.deepcopy(tiny_model), {**section, "layers": section["layers"][:1]})
