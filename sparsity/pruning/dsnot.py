"""DSnoT: training-free prune-and-grow on top of any mask (Zhang et al., 2024).

For each output row, the expected residual r = sum_j (1 - M_j) W_j E[x_j] picks a weight
to grow (one whose W_j E[x_j] has r's sign, the largest) and one to prune (a kept weight
whose W_k E[x_k] has the opposite sign, the lowest Wanda score; for N:M, in the grown
weight's group). Unlike the paper, a swap is kept only if it lowers the row's exact
reconstruction error d^T H d (d: the pruned weights, H = X^T X), so the layer's error
never rises; a row stops at its first rejected swap or after `dsnot_cycles`.
"""

from __future__ import annotations

import torch

from .spec import PruneSpec
from .stats import LayerStats


def reconstruction_error(weight: torch.Tensor, mask: torch.Tensor, gram: torch.Tensor):
    """Per row, d^T H d with d = W * (1 - M): the error of the pruned row over the tokens."""
    d = (weight * ~mask).double()
    return ((d @ gram.double()) * d).sum(1)


def refine(weight: torch.Tensor, mask: torch.Tensor, stats: LayerStats, spec: PruneSpec):
    """A new keep-mask with the same count per row (and per N:M group) as `mask`."""
    w = weight.detach().double()
    gram = stats.gram().double()
    mu = stats.mean().double()
    wanda = w.abs() * stats.column_norm().double().unsqueeze(0)
    start_mask = mask
    mask = mask.clone()
    before = reconstruction_error(w, mask, gram)
    hd = (w * ~mask) @ gram
    err = before.clone()
    residual = (w * ~mask) @ mu
    active = torch.ones(w.shape[0], dtype=torch.bool)
    contribution = w * mu.unsqueeze(0)
    rows = torch.arange(w.shape[0])
    for _ in range(spec.dsnot_cycles):
        sign = torch.sign(residual).unsqueeze(1)
        grow_gain = torch.where(~mask, sign * contribution, -torch.inf)
        j = grow_gain.argmax(1)
        can = active & (grow_gain[rows, j] > 0)
        prune_cost = torch.where(mask & (sign * contribution < 0), wanda, torch.inf)
        if spec.nm is not None:
            m = spec.nm[1]
            same_group = (torch.arange(w.shape[1]).unsqueeze(0) // m) == (j // m).unsqueeze(1)
            prune_cost = torch.where(same_group, prune_cost, torch.inf)
        k = prune_cost.argmin(1)
        can &= torch.isfinite(prune_cost[rows, k])
        wj, wk = w[rows, j], w[rows, k]
        new_err = (
            err
            - 2 * wj * hd[rows, j]
            + wj**2 * gram[j, j]
            + 2 * wk * hd[rows, k]
            + wk**2 * gram[k, k]
            - 2 * wj * wk * gram[j, k]
        )
        take = can & (new_err < err)
        if not take.any():
            break
        r = rows[take]
        mask[r, j[take]] = True
        mask[r, k[take]] = False
        hd[r] += -wj[take].unsqueeze(1) * gram[j[take]] + wk[take].unsqueeze(1) * gram[k[take]]
        residual[r] += -wj[take] * mu[j[take]] + wk[take] * mu[k[take]]
        err[r] = new_err[take]
        active = take
    # Rounding in the running sums must not let a row end worse than it began.
    worse = reconstruction_error(w, mask, gram) > before
    mask[worse] = start_mask[worse]
    return mask
