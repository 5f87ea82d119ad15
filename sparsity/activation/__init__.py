"""Activation sparsity: input channels of Linear layers dropped below calibrated
thresholds (TEAL, WINA; one file each), saved in the model folder's sparsity.json and
installed at load (`apply`). docs/sparsity.md, "Activation sparsity"."""

from __future__ import annotations

from torch import nn

from spire.core.errors import SpireError

from ..pruning.layers import set_submodule
from .calibrate import (
    SCOPES,
    calibrate,
    check_calibration,
    check_request,
    count_tokens,
    target_layers,
)
from .linear import PATHS, SCORES, ThresholdLinear

METHODS = tuple(SCORES)


def apply(model: nn.Module, section: dict, path: str = "gather", gather_below: float = 0.5):
    """Replace each target Linear by a ThresholdLinear with its saved threshold. Refuses
    a section written for another model (other blocks, layers or widths)."""
    if path not in PATHS:
        raise SpireError(f"activation path {path!r}: choose from {', '.join(PATHS)}")
    layers = {key: (name, module) for key, name, module in target_layers(model)}
    saved = section.get("layers", {})
    if set(saved) != set(layers):
        extra = sorted(set(saved) ^ set(layers))[:1]
        raise SpireError(
            f"sparsity.json does not match the model: its activation layers differ at {extra}"
        )
    for key, (name, module) in layers.items():
        entry = saved[key]
        if entry["in_features"] != module.in_features:
            raise SpireError(
                f"sparsity.json does not match the model: layer {key} takes "
                f"{module.in_features} inputs, not {entry['in_features']}"
            )
        replacement = ThresholdLinear(
            module, section["method"], entry["threshold"], path, gather_below
        )
        set_submodule(model, name, replacement)
    return model


__all__ = [
    "METHODS",
    "PATHS",
    "SCOPES",
    "apply",
    "calibrate",
    "check_calibration",
    "check_request",
    "count_tokens",
]
