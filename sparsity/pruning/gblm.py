"""GBLM-Pruner: Wanda's score plus a gradient term, alpha * |W_ij * G_ij|, where G is the
root mean square of the loss gradient over a few calibration batches (dense model)."""

from __future__ import annotations

import torch

from spire.core.errors import SpireError

from . import wanda
from .masks import keep_mask
from .spec import PruneSpec
from .stats import LayerStats


def scores(weight: torch.Tensor, stats: LayerStats, alpha: float) -> torch.Tensor:
    if stats.grad is None:
        raise SpireError("GBLM needs gradients: calibration batches with a loss")
    return wanda.scores(weight, stats) + alpha * (weight * stats.grad).abs()


def prune_weight(
    weight: torch.Tensor, stats: LayerStats, spec: PruneSpec, sparsity: float
) -> torch.Tensor:
    return keep_mask(
        scores(weight, stats, spec.gblm_alpha), sparsity, spec.effective_scope, spec.nm
    )
