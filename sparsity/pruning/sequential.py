"""Layer-by-layer pruning: each block sees calibration inputs that went through the blocks
already pruned before it (as SparseGPT and Wanda do)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from .layers import find_blocks, prunable_layers
from .stats import LayerStats


class _Captured(Exception):
    pass


def run_batch(model: nn.Module, batch) -> object:
    if isinstance(batch, dict):
        return model(**batch)
    if isinstance(batch, tuple | list):
        return model(*batch)
    return model(batch)


def capture_block_inputs(model: nn.Module, block: nn.Module, calib: Iterable) -> list:
    """(args, kwargs) of the first block's call for each calibration batch; the model
    stops there, so nothing after it runs."""
    captured: list = []

    def hook(_module, args, kwargs):
        captured.append((args, kwargs))
        raise _Captured

    handle = block.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        with torch.no_grad():
            for batch in calib:
                try:
                    run_batch(model, batch)
                except _Captured:
                    pass
    finally:
        handle.remove()
    return captured


def collect_stats(block: nn.Module, inputs: list, names: list[str], needs: set[str]) -> dict:
    """LayerStats of the named layers of `block` over one pass of `inputs`."""
    stats: dict[str, LayerStats] = {}
    handles = []
    for name in names:
        module = block.get_submodule(name) if name else block
        stats[name] = LayerStats(columns=0)

        def hook(_module, args, _output, name=name):
            stats[name].add(args[0], needs)

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            for args, kwargs in inputs:
                block(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return stats


def next_inputs(block: nn.Module, inputs: list) -> list:
    """The calibration inputs of the following block: this block's outputs in place of
    its hidden states, the other arguments (masks, positions) unchanged."""
    out = []
    with torch.no_grad():
        for args, kwargs in inputs:
            result = block(*args, **kwargs)
            hidden = result[0] if isinstance(result, tuple | list) else result
            if args:
                out.append(((hidden, *args[1:]), kwargs))
            else:
                out.append(((), {**kwargs, "hidden_states": hidden}))
    return out


def for_each_block(
    model: nn.Module,
    calib: list | None,
    prune_block: Callable[[str, nn.Module, list | None], None],
    progress: Callable[[int, int, str], None] | None = None,
) -> None:
    """Call `prune_block(name, block, inputs)` for each block in order; `inputs` are the
    block's calibration inputs through the pruned blocks before it (None without calib)."""
    blocks = find_blocks(model)
    inputs = capture_block_inputs(model, blocks[0][1], calib) if calib is not None else None
    for i, (name, block) in enumerate(blocks):
        prune_block(name, block, inputs)
        if inputs is not None and i + 1 < len(blocks):
            inputs = next_inputs(block, inputs)
        if progress is not None:
            progress(i + 1, len(blocks), name or type(model).__name__)


def layer_names(block: nn.Module) -> list[str]:
    return [name for name, _ in prunable_layers(block)]
