"""Recovery after pruning: SquareHead distillation from the dense model (Kurtic et al.,
"Sparse Finetuning for Inference Acceleration of Large Language Models", 2023), through
`recover`, the one fixed-mask training loop (training/prune_recovery.py drives it with
training's retrieval-score losses, KL and MarginMSE).

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


def heldout_loss(student: nn.Module, teacher: nn.Module, batches: list) -> float:
    """The mean SquareHead loss over `batches`, without gradients (the held-out check
    that chooses recovery's steps and learning rate)."""
    with torch.no_grad():
        return float(torch.stack([squarehead_loss(student, teacher, b) for b in batches]).mean())


def squarehead(
    student: nn.Module,
    teacher: nn.Module,
    calib: list,
    masks: dict[str, torch.Tensor],
    steps: int,
    lr: float = 1e-5,
    quiet: bool = True,
    after_step: Callable[[int], None] | None = None,
) -> list[float]:
    """SquareHead distillation: `recover` with `squarehead_loss` on the calibration
    batches in turn."""
    return recover(
        student, lambda step: squarehead_loss(student, teacher, calib[step % len(calib)]),
        masks, steps, lr, quiet=quiet, after_step=after_step, name="SquareHead",
    )  # fmt: skip


def recover(
    student: nn.Module,
    step_loss: Callable[[int], torch.Tensor],
    masks: dict[str, torch.Tensor],
    steps: int,
    lr: float,
    quiet: bool = True,
    after_step: Callable[[int], None] | None = None,
    name: str = "recovery",
) -> list[float]:
    """`steps` AdamW steps on `step_loss(step)` (0-based) with the pruning mask fixed
    (dropout stays as the model is: eval mode turns it off); returns the loss per step.
    `after_step(step)` (1-based) runs after each step, with the mask restored (to measure
    a held-out loss along the way). Any distillation loss goes through here."""
    modules = dict(student.named_modules())
    masked = [(modules[n].weight, mask) for n, mask in masks.items() if n in modules]
    handles = [
        weight.register_hook(lambda grad, mask=mask: grad * mask.to(grad.dtype))
        for weight, mask in masked
    ]
    optimiser = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    try:
        for step in range(steps):
            loss = step_loss(step)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            with torch.no_grad():
                for weight, mask in masked:
                    weight.masked_fill_(~mask, 0.0)
            losses.append(loss.item())
            if after_step is not None:
                after_step(step + 1)
            if not quiet:
                sys.stderr.write(f"recover step {step + 1}/{steps}: {name} loss {losses[-1]:.5f}\n")
    finally:
        for handle in handles:
            handle.remove()
    return losses
