"""Wanda: a weight's score is |W_ij| * ||X_j||_2, compared within its output row."""

from __future__ import annotations

import torch

from .masks import keep_mask
from .spec import PruneSpec
from .stats import LayerStats


def scores(weight: torch.Tensor, stats: LayerStats) -> torch.Tensor:
    return weight.abs() * stats.column_norm().unsqueeze(0)


def prune_weight(
    weight: torch.Tensor, stats: LayerStats, spec: PruneSpec, sparsity: float
) -> torch.Tensor:
    return keep_mask(scores(weight, stats), sparsity, spec.effective_scope, spec.nm)
