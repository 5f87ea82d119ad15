"""Random pruning ("The Unreasonable Effectiveness of Random Pruning"): a seeded uniform
draw, per layer, with the same pattern rules as the other methods."""

from __future__ import annotations

import zlib

import torch

from .masks import keep_mask
from .spec import PruneSpec
from .stats import LayerStats


def prune_weight(
    weight: torch.Tensor, stats: LayerStats, spec: PruneSpec, sparsity: float, name: str = ""
) -> torch.Tensor:
    """The keep-mask of `weight`; each layer draws from its own stream (seed, layer name)."""
    generator = torch.Generator().manual_seed(spec.seed * 1_000_003 + zlib.crc32(name.encode()))
    scores = torch.rand(weight.shape, generator=generator)
    return keep_mask(scores, sparsity, spec.effective_scope, spec.nm)
