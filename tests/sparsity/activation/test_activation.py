"""Activation sparsity (TEAL, WINA) on splade-tiny: thresholds hit their target, the
gather path equals the masked reference, sparsity 0 equals the dense model, a section
for another model is refused, and the folder written by `spire sparsify` loads back."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from sparsity.activation import apply, calibrate, histogram
from sparsity.activation.calibrate import target_layers
from sparsity.activation.linear import ThresholdLinear
from sparsity.runtime import dense_inside
from spire.core.errors import SpireError


@pytest.fixture(scope="module")
def calib(tiny_tokenizer):
    """Sixteen windows of 64 tokens (>= the 1024-token minimum), from varied text."""
    from tests.sparsity.conftest import TEXTS

    ids = tiny_tokenizer(" ".join(TEXTS * 24), add_special_tokens=False)["input_ids"]
    windows = torch.tensor(ids[: 16 * 64]).reshape(16, 64)
    return [{"input_ids": w, "attention_mask": torch.ones_like(w)} for w in windows.split(4)]


def _out(model, batch) -> torch.Tensor:
    with torch.no_grad():
        return model(**batch).logits


def test_histogram_threshold_is_the_quantile():
    generator = torch.Generator().manual_seed(0)
    values = -torch.log(torch.rand(100_000, generator=generator)) / 3.0  # exponential
    hist = histogram.empty()
    histogram.add(hist, values)
    for target in (0.25, 0.5, 0.65):
        want = float(torch.quantile(values, target))
        assert histogram.threshold(hist, target) == pytest.approx(want, rel=0.02)
    assert histogram.threshold(hist, 0.0) == 0.0


def test_wina_keeps_a_small_input_that_feeds_large_weights():
    layer = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[10.0, 0.1], [10.0, 0.1], [10.0, 0.1]]))
    x = torch.tensor([[0.5, 1.0]])  # channel 1 is larger, channel 0 feeds the big column
    teal = ThresholdLinear(layer, "teal", 0.75)
    wina = ThresholdLinear(layer, "wina", 0.75 * 10)
    assert teal.kept(x).tolist() == [[False, True]]
    assert wina.kept(x).tolist() == [[True, False]]


@pytest.mark.parametrize("method", ["teal", "wina"])
def test_zero_target_equals_dense(tiny_model, calib, method):
    section = calibrate(tiny_model, method, 0.0, calib)
    sparse = apply(copy.deepcopy(tiny_model), section)
    assert any(isinstance(m, ThresholdLinear) for m in sparse.modules())
    torch.testing.assert_close(
        _out(sparse, calib[0]), _out(tiny_model, calib[0]), atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("method", ["teal", "wina"])
def test_layers_drop_their_target_and_gather_equals_masked(tiny_model, calib, method):
    section = calibrate(tiny_model, method, 0.5, calib)
    masked = apply(copy.deepcopy(tiny_model), section, path="masked")
    gather = apply(copy.deepcopy(tiny_model), section, path="gather", gather_below=1.0)
    single = {k: v[:1, :9] for k, v in calib[0].items()}  # a short "query": the gather runs
    torch.testing.assert_close(_out(gather, single), _out(masked, single), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(_out(masked, single), _out(tiny_model, single), atol=1e-3)
    dropped = {}
    for key, _, module in target_layers(masked):
        module.register_forward_pre_hook(
            lambda m, args, key=key: dropped.setdefault(key, []).append(
                float((~m.kept(args[0])).float().mean())
            )
        )
    _out(masked, calib[0])
    for key, shares in dropped.items():
        assert shares[0] == pytest.approx(0.5, abs=0.1), key  # calibrated on these tokens
    with dense_inside(masked):
        torch.testing.assert_close(_out(masked, single), _out(tiny_model, single))


def test_model_scope_drops_the_target_share_of_multiply_adds(tiny_model, calib):
    section = calibrate(tiny_model, "teal", 0.4, calib, scope="model")
    assert len({entry["threshold"] for entry in section["layers"].values()}) == 1
    model = apply(copy.deepcopy(tiny_model), section, path="masked")
    skipped = total = 0.0
    for _, _, module in target_layers(model):

        def hook(m, args):
            nonlocal skipped, total
            skipped += float((~m.kept(args[0])).float().mean()) * m.out_features
            total += m.out_features

        module.register_forward_pre_hook(hook)
    for batch in calib:
        _out(model, batch)
    assert skipped / total == pytest.approx(0.4, abs=0.05)


def test_a_section_for_another_model_is_refused(tiny_model, calib):
    section = calibrate(tiny_model, "wina", 0.5, calib)
    wrong = copy.deepcopy(section)
    next(iter(wrong["layers"].values()))["in_features"] += 1
    with pytest.raises(SpireError, match="does not match the model"):
        apply(copy.deepcopy(tiny_model), wrong)
    del wrong["layers"][next(iter(wrong["layers"]))]
    with pytest.raises(SpireError, match="does not match the model"):
        apply(copy.deepcopy(tiny_model), wrong)
    with pytest.raises(SpireError, match="needs at least 1024"):
        calibrate(tiny_model, "teal", 0.5, calib[:1] and [{k: v[:1] for k, v in calib[0].items()}])
