"""Score histograms on a log scale, and the threshold that puts a target share below it.

Scores are non-negative; zeros (and anything under 10^LOW) go to the first bin. The
threshold is interpolated in log space inside the bin where the cumulative share crosses
the target, so it is exact to a bin's width (1/BINS_PER_DECADE of a decade)."""

from __future__ import annotations

import torch

LOW, HIGH = -8.0, 4.0  # decades covered: 1e-8 .. 1e4
BINS_PER_DECADE = 256
BINS = int((HIGH - LOW) * BINS_PER_DECADE)


def empty() -> torch.Tensor:
    return torch.zeros(BINS + 1, dtype=torch.float64)  # [0] = zeros and underflow


def add(hist: torch.Tensor, scores: torch.Tensor, weight: float = 1.0) -> None:
    """Count `scores` (any shape) into `hist`, each with `weight`."""
    flat = scores.detach().reshape(-1).float()
    logs = torch.log10(flat.clamp(min=10**LOW))
    index = ((logs - LOW) * BINS_PER_DECADE).floor().long().clamp(0, BINS - 1) + 1
    index[flat < 10**LOW] = 0
    hist += torch.bincount(index, minlength=BINS + 1).double() * weight


def threshold(hist: torch.Tensor, target: float) -> float:
    """The score below which `target` of the counted mass lies (0.0 for target 0)."""
    total = float(hist.sum())
    if target <= 0 or total == 0:
        return 0.0
    cumulative = torch.cumsum(hist, 0) / total
    if float(cumulative[0]) >= target:
        return 10**LOW
    i = int(torch.searchsorted(cumulative, torch.tensor(target, dtype=torch.float64)))
    i = min(i, BINS)
    before = float(cumulative[i - 1])
    share = (target - before) / max(float(cumulative[i]) - before, 1e-300)
    log_value = LOW + (i - 1 + min(max(share, 0.0), 1.0)) / BINS_PER_DECADE
    return float(10**log_value)
