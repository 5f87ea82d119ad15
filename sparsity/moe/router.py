"""Routers: a linear score per expert, the top k of which a token (or sequence) uses.

- `centroid` (MoEfication's similarity router, no data): expert e scores x by the mean
  of its neurons' input weights and biases, i.e. its neurons' mean pre-activation.
- `fitted` (a small trained router, closed form): ridge regression from the layer's
  input to each expert's output norm ||W2_e act(W1_e x + b1_e)||, fitted on the
  calibration tokens, so the router ranks experts by what they add to the output.
"""

from __future__ import annotations

import torch

ROUTERS = ("centroid", "fitted")
RIDGE = 1e-3  # times the mean diagonal of X^T X


def centroid_router(up_weight, up_bias, experts):
    weight = torch.stack([up_weight[group].mean(0) for group in experts])
    bias = torch.stack([up_bias[group].mean() for group in experts])
    return weight.detach().float(), bias.detach().float()


def expert_output_norms(inputs, up, down, activation, experts) -> torch.Tensor:
    """tokens x E: the norm of each expert's contribution to each token's output."""
    norms = []
    with torch.no_grad():
        for group in experts:
            mid = activation(inputs @ up.weight[group].T + up.bias[group])
            norms.append((mid @ down.weight[:, group].T).norm(dim=1))
    return torch.stack(norms, 1)


def fitted_router(inputs, up, down, activation, experts):
    """Least squares from [x, 1] to the experts' output norms (float64, ridge)."""
    targets = expert_output_norms(inputs, up, down, activation, experts).double()
    x = torch.cat([inputs.double(), torch.ones(len(inputs), 1, dtype=torch.float64)], 1)
    gram = x.T @ x
    gram += torch.eye(len(gram), dtype=torch.float64) * RIDGE * gram.diagonal().mean()
    solution = torch.linalg.solve(gram, x.T @ targets)  # (hidden + 1) x E
    return solution[:-1].T.float().contiguous(), solution[-1].float().contiguous()
