"""Zeroing single weights (unstructured or N:M) in one block, by any method."""

from __future__ import annotations

import torch
from torch import nn

from . import dsnot, gblm, magnitude, random, sparsegpt, wanda
from .layers import weight_matrix
from .spec import PruneSpec
from .stats import NEEDS, LayerStats

MASKERS = {
    "magnitude": magnitude.prune_weight,
    "wanda": wanda.prune_weight,
    "gblm": gblm.prune_weight,
    "sparsegpt": sparsegpt.prune_weight,  # also updates the weights that stay
}


def needs(spec: PruneSpec) -> set[str]:
    if spec.method == "dsnot":
        return NEEDS["dsnot"] | NEEDS[spec.dsnot_base]
    return NEEDS[spec.method]


def prune_layer(name: str, module: nn.Module, stats: LayerStats, spec: PruneSpec) -> torch.Tensor:
    """Prune one layer in place; returns its keep-mask (out x in)."""
    weight = weight_matrix(module)
    sparsity = spec.sparsity_of(name)
    base = spec.base() if spec.method == "dsnot" else spec
    with torch.no_grad():
        if base.method == "random":
            mask = random.prune_weight(weight, stats, base, sparsity, name=name)
        else:
            mask = MASKERS[base.method](weight, stats, base, sparsity)
        if spec.method == "dsnot":
            mask = dsnot.refine(weight, mask, stats, spec)
        weight.masked_fill_(~mask, 0.0)  # +0.0: a product would leave -0.0, stored as a value
    return mask
