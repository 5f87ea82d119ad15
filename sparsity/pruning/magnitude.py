"""Magnitude pruning: the smallest |W| go."""

from __future__ import annotations

import torch

from .masks import keep_mask
from .spec import PruneSpec
from .stats import LayerStats


def prune_weight(
    weight: torch.Tensor, stats: LayerStats, spec: PruneSpec, sparsity: float
) -> torch.Tensor:
    """The keep-mask of `weight` (out x in)."""
    return keep_mask(weight.abs(), sparsity, spec.effective_scope, spec.nm)
