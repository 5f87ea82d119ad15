"""GBLM's gradient statistics: the root mean square, over calibration batches, of the
loss gradient of each layer's weight, taken on the dense model."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .layers import weight_matrix
from .sequential import run_batch


def default_loss(output) -> torch.Tensor:
    """The model's own loss where it returns one (a causal LM given labels); else half the
    mean square of its first output (a proxy for models trained without labels here)."""
    loss = getattr(output, "loss", None)
    if loss is not None:
        return loss
    first = output[0] if isinstance(output, tuple | list) else output
    if not torch.is_tensor(first):
        first = next(v for v in output.values() if torch.is_tensor(v))
    return 0.5 * first.float().pow(2).mean()


def gradient_rms(
    model: nn.Module,
    calib: list,
    layers: list[tuple[str, nn.Module]],
    loss_fn: Callable | None = None,
) -> dict[str, torch.Tensor]:
    loss_fn = loss_fn or default_loss
    params = [weight_matrix(m) for _, m in layers]
    squares = [torch.zeros(p.shape) for p in params]
    was_training = model.training
    model.eval()
    for batch in calib:
        model.zero_grad(set_to_none=True)
        loss_fn(run_batch(model, batch)).backward()
        for sq, (_, module) in zip(squares, layers, strict=True):
            grad = _grad_of(module)
            if grad is not None:
                sq += grad.float() ** 2
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return {name: (sq / len(calib)).sqrt() for sq, (name, _) in zip(squares, layers, strict=True)}


def _grad_of(module: nn.Module) -> torch.Tensor | None:
    grad = module.weight.grad
    if grad is None:
        return None
    return grad.T if type(module).__name__ == "Conv1D" else grad
