"""SparseGPT: optimal-brain-surgeon row updates with a damped Hessian H = X^T X, column
block by column block (Frantar & Alistarh, 2023).

Within each block of `blocksize` columns the mask keeps the highest w^2 / [H^-1]_jj^2
over the whole block (unstructured) or per M columns of a row (N:M); each pruned weight's
error is then spread over the row's later columns.
"""

from __future__ import annotations

import torch

from .masks import keep_mask
from .spec import PruneSpec
from .stats import LayerStats


def damped_hessian(hessian: torch.Tensor, damp: float) -> torch.Tensor:
    """H + damp * mean(diag H) * I in float64; inputs that never fire (zero diagonal) get
    a unit diagonal so the matrix is invertible."""
    h = hessian.double().clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    return h + damp * torch.mean(torch.diag(h)) * torch.eye(h.shape[0], dtype=h.dtype)


def inverse_hessian_factor(hessian: torch.Tensor, damp: float) -> torch.Tensor:
    """The upper Cholesky factor of the damped Hessian's inverse."""
    inverse = torch.cholesky_inverse(torch.linalg.cholesky(damped_hessian(hessian, damp)))
    return torch.linalg.cholesky(inverse, upper=True)


def prune_weight(
    weight: torch.Tensor, stats: LayerStats, spec: PruneSpec, sparsity: float
) -> torch.Tensor:
    """Prune `weight` (out x in) in place, updating the weights that stay; returns the
    keep-mask."""
    # float32 for the column loop, as the reference code (float64 is twice as slow here).
    hinv = inverse_hessian_factor(stats.hessian, spec.damp).float()
    w = weight.detach().float().clone()
    w[:, torch.diag(stats.hessian) == 0] = 0
    mask = torch.ones_like(w, dtype=torch.bool)
    cols = w.shape[1]
    for start in range(0, cols, spec.blocksize):
        end = min(start + spec.blocksize, cols)
        errors = _prune_block(w, mask, hinv, start, end, sparsity, spec)
        w[:, end:] -= errors @ hinv[start:end, end:]
    weight.data.copy_(w.masked_fill(~mask, 0.0).to(weight.dtype))
    return mask


def _prune_block(w, mask, hinv, start, end, sparsity, spec) -> torch.Tensor:
    block = w[:, start:end]  # a view: updates land in w
    h_block = hinv[start:end, start:end]
    diag = torch.diag(h_block)
    if spec.nm is None:
        mask[:, start:end] = keep_mask(block**2 / diag.unsqueeze(0) ** 2, sparsity, "layer", None)
    errors = torch.zeros_like(block)
    for i in range(end - start):
        if spec.nm is not None and i % spec.nm[1] == 0:
            group = slice(i, i + spec.nm[1])
            scores = block[:, group] ** 2 / diag[group].unsqueeze(0) ** 2
            mask[:, start + i : start + i + spec.nm[1]] = keep_mask(scores, 0, "row", spec.nm)
        column = block[:, i]
        pruned = torch.where(mask[:, start + i], torch.zeros_like(column), column)
        err = pruned / h_block[i, i]
        block[:, i:] -= err.unsqueeze(1) @ h_block[i, i:].unsqueeze(0)
        errors[:, i] = err
    return errors
