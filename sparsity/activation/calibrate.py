"""Thresholds per Linear input, calibrated on corpus text to a target sparsity.

Every Linear layer inside the model's transformer blocks is a target. One pass of the
calibration batches through the dense model fills a log-scale histogram of each layer's
input scores (TEAL |x_i|, WINA |x_i|*||W_:,i||). Scope `layer` gives each layer its own
threshold at the target share; scope `model` pools the layers' histograms, each score
weighted by its layer's output width (the multiply-adds it feeds), and takes one
threshold, so the model-wide share of skipped multiply-adds is the target and layers
with many small inputs give up more of them.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from spire.core.errors import SpireError

from ..pruning.layers import find_blocks
from ..pruning.sequential import run_batch
from . import histogram
from .linear import SCORES
from .wina import column_norms

SCOPES = ("layer", "model")
MIN_CALIB_TOKENS = 1024  # fewer and the tails of the histograms are guesses


def target_layers(model: nn.Module) -> list[tuple[str, str, nn.Module]]:
    """(key, module name, Linear) of each Linear inside the blocks; the key is
    '<block number>:<name inside the block>', the same for a bare encoder and its
    masked-LM wrapper."""
    out = []
    for i, (block_name, block) in enumerate(find_blocks(model)):
        for name, module in block.named_modules():
            if isinstance(module, nn.Linear):
                full = f"{block_name}.{name}" if block_name else name
                out.append((f"{i}:{name}", full, module))
    return out


def check_request(method: str, target: float, scope: str) -> None:
    if method not in SCORES:
        raise SpireError(f"activation method {method!r}: choose from {', '.join(SCORES)}")
    if not 0 <= target < 1:
        raise SpireError(f"activation target {target}: must be in [0, 1)")
    if scope not in SCOPES:
        raise SpireError(f"activation scope {scope!r}: choose from {', '.join(SCOPES)}")


def count_tokens(calib: Iterable) -> int:
    return sum(int(b["attention_mask"].sum()) for b in calib)


def check_calibration(calib: list) -> None:
    tokens = count_tokens(calib)
    if tokens < MIN_CALIB_TOKENS:
        raise SpireError(
            f"calibration data has {tokens} tokens; activation sparsity needs at least "
            f"{MIN_CALIB_TOKENS}"
        )


def histograms(model: nn.Module, method: str, calib: list) -> dict[str, torch.Tensor]:
    """Each target layer's histogram of input scores over the calibration tokens."""
    layers = target_layers(model)
    hists = {key: histogram.empty() for key, _, _ in layers}
    handles = []
    for key, _, module in layers:
        norms = column_norms(module.weight) if method == "wina" else None

        def hook(_module, args, key=key, norms=norms):
            histogram.add(hists[key], SCORES[method](args[0], norms))

        handles.append(module.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            for batch in calib:
                run_batch(model, batch)
    finally:
        for handle in handles:
            handle.remove()
    return hists


def calibrate(
    model: nn.Module,
    method: str,
    target: float,
    calib: list,
    scope: str = "layer",
    hists: dict[str, torch.Tensor] | None = None,
) -> dict:
    """The `activation` section of sparsity.json: thresholds and what they were for.
    `hists` (from `histograms`, same model, method and calib) skips the pass, so many
    targets cost one."""
    check_request(method, target, scope)
    check_calibration(calib)
    layers = target_layers(model)
    hists = hists if hists is not None else histograms(model, method, calib)
    if scope == "layer":
        thresholds = {key: histogram.threshold(hists[key], target) for key in hists}
    else:
        pooled = histogram.empty()
        for key, _, module in layers:
            pooled += hists[key] / hists[key].sum() * module.out_features
        value = histogram.threshold(pooled, target)
        thresholds = {key: value for key in hists}
    return {
        "method": method,
        "target": target,
        "scope": scope,
        "calibration_tokens": count_tokens(calib),
        "layers": {
            key: {"in_features": module.in_features, "threshold": thresholds[key]}
            for key, _, module in layers
        },
    }
