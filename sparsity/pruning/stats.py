"""What a method needs to know about a layer's inputs, accumulated over calibration tokens."""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Which statistics each method reads; hooks collect only these.
NEEDS = {
    "magnitude": set(),
    "random": set(),
    "wanda": {"norm"},
    "gblm": {"norm", "grad"},
    "sparsegpt": {"hessian"},
    "dsnot": {"norm", "hessian", "mean"},
}


@dataclass
class LayerStats:
    """Sums over the calibration tokens x (rows of the layer's input): sum of x_j^2 per
    input j and of x_j (float64), and X^T X (float32, the costly one)."""

    columns: int
    tokens: int = 0
    sq: torch.Tensor | None = None
    total: torch.Tensor | None = None
    hessian: torch.Tensor | None = None
    grad: torch.Tensor | None = None  # root mean square gradient of the weight (GBLM)

    def add(self, x: torch.Tensor, needs: set[str]) -> None:
        x = x.detach().reshape(-1, x.shape[-1]).float()
        self.tokens += x.shape[0]
        if "norm" in needs:
            sq = (x * x).sum(0, dtype=torch.float64)
            self.sq = sq if self.sq is None else self.sq + sq
        if "mean" in needs:
            s = x.sum(0, dtype=torch.float64)
            self.total = s if self.total is None else self.total + s
        if "hessian" in needs:
            h = x.T @ x
            self.hessian = h if self.hessian is None else self.hessian + h

    def column_norm(self) -> torch.Tensor:
        """||X_j||_2 per input, scaled by 1/sqrt(tokens) (rankings do not change)."""
        return (self.sq / max(self.tokens, 1)).sqrt().float()

    def mean(self) -> torch.Tensor:
        return (self.total / max(self.tokens, 1)).float()

    def gram(self) -> torch.Tensor:
        """X^T X / tokens, float32."""
        return (self.hessian / max(self.tokens, 1)).float()
