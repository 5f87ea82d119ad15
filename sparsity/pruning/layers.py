"""Which modules pruning acts on: Linear layers (and Hugging Face's Conv1D, whose weight is
stored in x out), and the repeated blocks they sit in."""

from __future__ import annotations

import torch
from torch import nn


def is_prunable(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


def weight_matrix(module: nn.Module) -> torch.Tensor:
    """The weight as out x in (a view for Conv1D, so in-place edits reach the module)."""
    return module.weight.T if type(module).__name__ == "Conv1D" else module.weight


def prunable_layers(module: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    join = f"{prefix}." if prefix else ""
    return [(join + n, m) for n, m in module.named_modules() if is_prunable(m)]


def find_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The transformer blocks, in order: the ModuleList of two or more children that each
    hold a prunable layer and together hold the most. A model without one is a single block."""
    best: tuple[int, str, nn.ModuleList] | None = None
    for name, child in model.named_modules():
        if not isinstance(child, nn.ModuleList) or len(child) < 2:
            continue
        counts = [len(prunable_layers(block)) for block in child]
        if min(counts) > 0 and (best is None or sum(counts) > best[0]):
            best = (sum(counts), name, child)
    if best is None:
        return [("", model)]
    _, name, blocks = best
    return [(f"{name}.{i}", block) for i, block in enumerate(blocks)]


def set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, attr, module)
