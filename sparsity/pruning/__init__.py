"""Weight pruning of any torch module's Linear layers: `prune(model, method=..., ...)`.

One file per method (magnitude, random, wanda, sparsegpt, gblm, dsnot); unstructured,
N:M or structured (whole neurons and heads); blocks pruned in order, each calibrated on
inputs that went through the blocks already pruned. Imports only torch and spire's core.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from spire.core.errors import SpireError

from . import structured as structured_mod
from .gradients import gradient_rms
from .layers import find_blocks, prunable_layers, weight_matrix
from .sequential import collect_stats, for_each_block
from .spec import METHODS, PruneSpec, parse_nm
from .stats import LayerStats
from .unstructured import needs, prune_layer

__all__ = ["METHODS", "PruneResult", "PruneSpec", "parse_nm", "prune", "check"]


@dataclass
class PruneResult:
    spec: PruneSpec
    masks: dict[str, torch.Tensor] = field(default_factory=dict)  # full layer name -> keep
    removed_units: dict[str, int] = field(default_factory=dict)  # structured: per layer

    def summary(self, model: nn.Module) -> dict:
        total = zeros = 0
        for _, module in prunable_layers(model):
            w = weight_matrix(module)
            total += w.numel()
            zeros += int((w == 0).sum())
        return {"linear_weights": total, "zero_weights": zeros, "zero_share": zeros / total}


def check(model: nn.Module, spec: PruneSpec, calib: list | None) -> None:
    """Every refusal that needs no work: no layers, no calibration, structured limits."""
    if not prunable_layers(model):
        raise SpireError(f"{type(model).__name__} has no Linear layers to prune")
    if (needs(spec) or spec.structured and spec.method not in ("magnitude", "random")) and (
        not calib
    ):
        raise SpireError(f"method {spec.method!r} needs calibration data, and none was given")
    if spec.structured:
        structured_mod.plan(find_blocks(model), spec)


def prune(
    model: nn.Module,
    method: str = "wanda",
    sparsity: float = 0.5,
    calib: list | None = None,
    *,
    spec: PruneSpec | None = None,
    loss_fn: Callable | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    **options,
) -> PruneResult:
    """Prune `model` in place and return the masks.

    `calib` is a list of batches, each passed to the model as keyword arguments (a dict),
    positional ones (a tuple) or one tensor. `options` are PruneSpec fields (nm=(2, 4),
    structured="ffn", scope, seed, ...). `progress(done, total, block)` follows the blocks.
    """
    spec = spec or PruneSpec(method=method, sparsity=sparsity, **options)
    calib = list(calib) if calib is not None else None
    check(model, spec, calib)
    result = PruneResult(spec)
    grads = {}
    if "grad" in needs(spec) or spec.structured and spec.method == "gblm":
        grads = gradient_rms(model, calib, prunable_layers(model), loss_fn)
    with _no_cache(model):
        for_each_block(model, calib, _block_pruner(spec, result, grads), progress)
    return result


def _block_pruner(spec: PruneSpec, result: PruneResult, grads: dict):
    def prune_block(prefix: str, block: nn.Module, inputs: list | None) -> None:
        def full(name: str) -> str:
            return f"{prefix}.{name}" if prefix and name else prefix or name

        if spec.structured:
            units = structured_mod.plan([(prefix, block)], spec)[prefix]
            stats = _stats(block, inputs, [u.consumer for u in units], {"norm", "hessian"})
            for u in units:
                s = stats.get(u.consumer)
                if s is not None and full(u.consumer) in grads:
                    s.grad = grads[full(u.consumer)]
                result.removed_units[full(u.consumer)] = structured_mod.prune_units(
                    block, u, s, spec
                )
            return
        names = [n for n, _ in prunable_layers(block)]
        stats = _stats(block, inputs, names, needs(spec))
        for name in names:
            s = stats.get(name) or LayerStats(columns=0)
            s.grad = grads.get(full(name))
            module = block.get_submodule(name) if name else block
            result.masks[full(name)] = prune_layer(full(name), module, s, spec)

    return prune_block


def _stats(block, inputs, names, wanted) -> dict:
    if inputs is None or not wanted:
        return {}
    return collect_stats(block, inputs, names, wanted)


@contextmanager
def _no_cache(model: nn.Module):
    """Blocks replayed on stored inputs must not append to a key/value cache."""
    config = getattr(model, "config", None)
    old = getattr(config, "use_cache", None)
    if old is not None:
        config.use_cache = False
    try:
        yield
    finally:
        if old is not None:
            config.use_cache = old
