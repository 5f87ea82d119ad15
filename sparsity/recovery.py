"""Recovery after pruning: SquareHead distillation from the dense model (Kurtic et al.,
"Sparse Finetuning for Inference Acceleration of Large Language Models", 2023).

The loss is, summed over blocks, ||h_s - h_t||^2 / ||h_t||^2 of each block's output
hidden states (student: pruned, teacher: dense). The mask is fixed by construction:
gradients of pruned weights are zeroed before every step (so Adam's moments for them stay
zero) and the pruned weights are set to zero again after it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch
from torch import nn

from .pruning.layers import find_blocks
from .pruning.sequential import run_batch


def _block_outputs(model: nn.Module) -> tuple[list, Callable[[], None]]:
    outputs: list[torch.Tensor] = []
    handles = []
    for _, block in find_blocks(model):

        def hook(_module, _args, result):
            outputs.append(result[0] if isinstance(result, tuple | list) else result)

        handles.append(block.register_forward_hook(hook))
    return outputs, lambda: [h.remove() for h in handles]


def squarehead_loss(student: nn.Module, teacher: nn.Module, batch) -> torch.Tensor:
    batch = {k: v for k, v in batch.items() if k != "labels"} if isinstance(batch, dict) else batch
    s_out, s_done = _block_outputs(student)
    t_out, t_done = _block_outputs(teacher)
    try:
        with torch.no_grad():
            run_batch(teacher, batch)
        run_batch(student, batch)
    finally:
        s_done()
        t_done()
    losses = [
        ((s - t) ** 2).sum() / (t**2).sum().clamp_min(1e-12)
        for s, t in zip(s_out, t_out, strict=True)
    ]
    return torch.stack(losses).mean()


def squarehead(
    student: nn.Module,
    teacher: nn.Module,
    calib: list,
    masks: dict[str, torch.Tensor],
    steps: int,
    lr: float = 1e-5,
    quiet: bool = True,
) -> list[float]:
    """`steps` AdamW steps on the calibration batches in turn (dropout off, as in eval
    mode); returns the loss per step."""
    modules = dict(student.named_modules())
    masked = [(modules[name].weight, mask) for name, mask in masks.items() if name in modules]
    for weight, mask in masked:
        weight.register_hook(lambda grad, mask=mask: grad * mask.to(grad.dtype))
    optimiser = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    for step in range(steps):
        loss = squarehead_loss(student, teacher, calib[step % len(calib)])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            for weight, mask in masked:
                weight.masked_fill_(~mask, 0.0)
        losses.append(loss.item())
        if not quiet:
            sys.stderr.write(f"recover step {step + 1}/{steps}: SquareHead loss {losses[-1]:.5f}\n")
    return losses
