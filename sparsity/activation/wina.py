"""WINA (Chen et al., 'WINA: Weight Informed Neuron Activation for Accelerating Large
Language Model Inference', 2025): an input channel is kept when |x_i| * ||W_:,i||_2 (its
magnitude times the norm of the weight column it multiplies) exceeds the layer's
threshold, so a small input that feeds large weights survives where TEAL drops it."""

from __future__ import annotations

import torch

NAME = "wina"


def column_norms(weight: torch.Tensor) -> torch.Tensor:
    """||W_:,i||_2 of each input column i of an out x in weight."""
    return weight.detach().float().norm(dim=0).to(weight.dtype)


def scores(x: torch.Tensor, norms: torch.Tensor | None) -> torch.Tensor:
    return x.abs() * norms
