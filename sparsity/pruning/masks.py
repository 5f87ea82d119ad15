"""Keep-masks from importance scores: unstructured (per row or per matrix) and N:M."""

from __future__ import annotations

import torch

from spire.core.errors import SpireError


def keep_mask(
    scores: torch.Tensor, sparsity: float, scope: str, nm: tuple[int, int] | None
) -> torch.Tensor:
    """A bool mask, True where a weight stays: the highest `scores` survive.

    Unstructured: `int(sparsity * count)` weights go, counted per output row (`scope`
    'row') or over the whole matrix ('layer'). N:M: in every M consecutive weights of a
    row, the N highest stay. Ties are broken by position, so the mask is deterministic.
    """
    if nm is not None:
        return nm_mask(scores, *nm)
    if scope == "row":
        drop = int(sparsity * scores.shape[1])
        order = torch.argsort(scores, dim=1, stable=True)
        mask = torch.ones_like(scores, dtype=torch.bool)
        mask.scatter_(1, order[:, :drop], False)
        return mask
    flat = scores.reshape(-1)
    drop = int(sparsity * flat.numel())
    mask = torch.ones_like(flat, dtype=torch.bool)
    mask[torch.argsort(flat, stable=True)[:drop]] = False
    return mask.reshape(scores.shape)


def nm_mask(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    rows, cols = scores.shape
    if cols % m:
        raise SpireError(f"N:M {n}:{m} needs a multiple of {m} inputs; a layer has {cols}")
    groups = scores.reshape(rows, cols // m, m)
    order = torch.argsort(groups, dim=2, stable=True, descending=True)
    mask = torch.zeros_like(groups, dtype=torch.bool)
    mask.scatter_(2, order[..., :n], True)
    return mask.reshape(rows, cols)
