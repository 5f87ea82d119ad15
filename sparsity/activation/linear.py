"""A Linear layer whose input channels below a threshold are dropped (set to zero).

Two ways to run it, equal to each other up to float rounding:
- `masked` (the reference): zero the dropped inputs, then the dense product;
- `gather`: the union of the channels any token keeps is gathered, and only those rows of
  the pre-transposed weight (contiguous, in x out) enter the product. A query of several
  tokens must keep the union, and on a CPU whose matrices sit in cache a scattered
  gather only pays off at high sparsity (docs/sparsity.md), so the gather is taken only
  when the union keeps at most `gather_below` of the channels; otherwise the masked
  product runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import teal, wina

SCORES = {teal.NAME: teal.scores, wina.NAME: wina.scores}
PATHS = ("masked", "gather")


class ThresholdLinear(nn.Linear):
    """`linear` with inputs scoring at most `threshold` (by `method`) dropped. A Linear
    itself (same weight and bias, same state dict keys), so block discovery and loading
    see it as the layer it replaces."""

    def __init__(
        self,
        linear: nn.Linear,
        method: str,
        threshold: float,
        path: str = "gather",
        gather_below: float = 0.5,
    ) -> None:
        nn.Module.__init__(self)
        self.weight = linear.weight
        self.bias = linear.bias
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.method, self.threshold = method, float(threshold)
        self.path, self.gather_below = path, float(gather_below)
        self.enabled = True  # off: the plain dense product (documents, when queries only)
        norms = wina.column_norms(linear.weight) if method == wina.NAME else None
        self.register_buffer("norms", norms, persistent=False)
        self.register_buffer("weight_t", linear.weight.detach().t().contiguous(), persistent=False)
        self._score = SCORES[method]

    def kept(self, x: torch.Tensor) -> torch.Tensor:
        """Which input channels of each token survive (bool, x's shape)."""
        return self._score(x, self.norms) > self.threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled or self.threshold <= 0:
            return F.linear(x, self.weight, self.bias)
        keep = self.kept(x)
        sparse_x = x * keep
        if self.path == "masked":
            return F.linear(sparse_x, self.weight, self.bias)
        columns = keep.reshape(-1, self.in_features).any(0).nonzero().squeeze(1)
        if columns.numel() > self.gather_below * self.in_features:
            return F.linear(sparse_x, self.weight, self.bias)
        rows = sparse_x.reshape(-1, self.in_features).index_select(1, columns)
        weight = self.weight_t.index_select(0, columns)
        out = rows @ weight if self.bias is None else torch.addmm(self.bias, rows, weight)
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, method={self.method}, "
            f"threshold={self.threshold:.4g}, path={self.path}"
        )
