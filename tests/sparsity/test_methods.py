"""Hand-checkable cases of the pruning methods (issue 17)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sparsity.pruning import PruneSpec, dsnot, magnitude, parse_nm, prune, sparsegpt, wanda
from sparsity.pruning.masks import keep_mask
from sparsity.pruning.stats import LayerStats
from spire.core.errors import SpireError


def _stats(x: torch.Tensor) -> LayerStats:
    stats = LayerStats(columns=x.shape[1])
    stats.add(x, {"norm", "hessian", "mean"})
    return stats


def test_two_four_on_a_two_by_eight_matrix():
    w = torch.tensor(
        [[1.0, -4.0, 3.0, 0.5, -0.1, 0.2, -0.3, 0.4], [9.0, 8.0, -7.0, 6.0, 1.0, 1.5, 2.0, -3.0]]
    )
    mask = magnitude.prune_weight(w, LayerStats(8), PruneSpec("magnitude", nm=(2, 4)), 0.5)
    expected = torch.tensor([[0, 1, 1, 0, 0, 0, 1, 1], [1, 1, 0, 0, 0, 0, 1, 1]], dtype=torch.bool)
    assert torch.equal(mask, expected)
    assert torch.equal(mask.reshape(2, 2, 4).sum(2), torch.full((2, 2), 2))


def test_wanda_score_is_weight_times_input_norm():
    # Inputs of 2 tokens: column norms sqrt(3^2+4^2)=5 and 1, scaled by 1/sqrt(2).
    x = torch.tensor([[3.0, 1.0], [4.0, 0.0]])
    w = torch.tensor([[1.0, -4.0], [-2.0, 3.0]])
    scores = wanda.scores(w, _stats(x))
    assert torch.allclose(scores * 2**0.5, torch.tensor([[5.0, 4.0], [10.0, 3.0]]))
    # Per row at 50%: row 0 keeps the 1.0 (score 5 > 4) although |-4| is larger.
    mask = wanda.prune_weight(w, _stats(x), PruneSpec("wanda"), 0.5)
    assert torch.equal(mask, torch.tensor([[True, False], [True, False]]))


@pytest.mark.parametrize("nm", [None, (2, 4)])
def test_sparsegpt_with_identity_hessian_is_magnitude(nm):
    torch.manual_seed(0)
    w = torch.randn(6, 16)
    stats = LayerStats(16, tokens=1, hessian=torch.eye(16, dtype=torch.float64))
    spec = PruneSpec("sparsegpt", nm=nm, blocksize=16)
    pruned = w.clone()
    mask = sparsegpt.prune_weight(pruned, stats, spec, 0.5)
    expected = magnitude.prune_weight(w, stats, PruneSpec("magnitude", nm=nm), 0.5)
    assert torch.equal(mask, expected)
    assert torch.equal(pruned, w * expected)  # identity Hessian: no weight moves


def test_sparsegpt_lowers_reconstruction_error_below_magnitude():
    torch.manual_seed(1)
    x = torch.randn(256, 32) @ torch.randn(32, 32)  # correlated inputs
    w = torch.randn(8, 32)
    stats = _stats(x)
    pruned = w.clone()
    sparsegpt.prune_weight(pruned, stats, PruneSpec("sparsegpt"), 0.5)
    mag = w * magnitude.prune_weight(w, stats, PruneSpec("magnitude"), 0.5)
    assert (pruned == 0).sum() == 8 * 16
    assert ((x @ (w - pruned).T) ** 2).sum() < ((x @ (w - mag).T) ** 2).sum()


@pytest.mark.parametrize("nm", [None, (2, 4)])
@pytest.mark.parametrize("seed", range(5))
def test_dsnot_never_raises_reconstruction_error(seed, nm):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(128, 24, generator=g) + torch.rand(24, generator=g)  # non-zero means
    w = torch.randn(10, 24, generator=g)
    stats = _stats(x)
    start = wanda.prune_weight(w, stats, PruneSpec("wanda", nm=nm), 0.5)
    mask = dsnot.refine(w, start, stats, PruneSpec("dsnot", nm=nm))

    def error(m):
        return ((x @ (w * ~m).T) ** 2).sum(0)

    assert torch.all(error(mask) <= error(start) + 1e-4)
    assert torch.equal(mask.sum(1), start.sum(1))  # same sparsity per row
    if nm:
        assert torch.all(mask.reshape(10, -1, 4).sum(2) == 2)
    assert not torch.equal(mask, start) or seed  # it does swap (seed 0 at least)


def test_keep_mask_counts():
    scores = torch.arange(20.0).reshape(4, 5)
    assert keep_mask(scores, 0.4, "row", None).sum() == 12
    layer = keep_mask(scores, 0.5, "layer", None)
    assert layer.sum() == 10 and layer[2:].all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sparsity": 1.0}, "outside [0, 1)"),
        ({"sparsity": -0.1}, "outside [0, 1)"),
        ({"method": "obs"}, "unknown pruning method"),
        ({"nm": (4, 4)}, "0 < N < M"),
        ({"method": "dsnot", "structured": "ffn"}, "DSnoT"),
    ],
)
def test_spec_refuses(kwargs, message):
    with pytest.raises(SpireError, match=message.replace("[", r"\[").replace(")", r"\)")):
        PruneSpec(**kwargs)


@pytest.mark.parametrize("text", ["2-4", "4:2", "a:b", "0:4", ":4"])
def test_parse_nm_refuses(text):
    with pytest.raises(SpireError, match="--nm"):
        parse_nm(text)


class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Sequential(nn.Linear(16, 16), nn.ReLU()) for _ in "ab"])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


@pytest.mark.parametrize("method", ["magnitude", "random", "wanda", "sparsegpt", "gblm", "dsnot"])
def test_every_method_prunes_any_module(method):
    torch.manual_seed(0)
    model = TwoLayers()
    calib = [torch.randn(4, 16) for _ in range(3)]
    result = prune(model, method, 0.5, calib)
    assert set(result.masks) == {"layers.0.0", "layers.1.0"}
    for layer in model.layers:
        assert (layer[0].weight == 0).float().mean() == 0.5


def test_later_blocks_calibrate_on_pruned_outputs():
    torch.manual_seed(0)
    model = TwoLayers()
    calib = [torch.randn(8, 16)]
    seen = []
    model.layers[1].register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
    first = model.layers[0](calib[0]).detach()
    prune(model, "wanda", 0.5, calib)
    pruned_first = model.layers[0](calib[0]).detach()
    # The second block's statistics came from the first block after it was pruned.
    assert any(torch.equal(s, pruned_first) for s in seen)
    assert not any(torch.equal(s, first) for s in seen)


def test_no_linear_layers_is_refused():
    with pytest.raises(SpireError, match="no Linear layers"):
        prune(nn.Sequential(nn.ReLU()), "magnitude", 0.5)


def test_calibration_needed_and_empty_refused():
    with pytest.raises(SpireError, match="needs calibration"):
        prune(TwoLayers(), "wanda", 0.5, [])
