"""TEAL (Liu et al., 'Training-Free Activation Sparsity in Large Language Models', ICLR
2025): an input channel of a Linear layer is kept when its magnitude |x_i| exceeds the
layer's threshold, calibrated so that a target share of the channels falls below it."""

from __future__ import annotations

import torch

NAME = "teal"


def scores(x: torch.Tensor, column_norms: torch.Tensor | None) -> torch.Tensor:
    """|x_i| for every input channel (the weights play no part)."""
    return x.abs()
