"""Balanced k-means on the rows of a feed-forward layer's input projection (MoEfication,
Zhang et al., ACL Findings 2022): neurons whose input weights point the same way tend to
fire together, so each expert gathers such a group. Every expert gets exactly n / E
neurons (E must divide n)."""

from __future__ import annotations

import torch

from spire.core.errors import SpireError


def check_split(neurons: int, experts: int, top: int) -> None:
    if experts < 1 or top < 1:
        raise SpireError(f"--moe experts={experts},top={top}: both must be at least 1")
    if top > experts:
        raise SpireError(f"--moe top={top} is more than experts={experts}")
    if neurons % experts:
        raise SpireError(
            f"--moe experts={experts} does not divide the layer's {neurons} neurons "
            "(experts must be of equal size)"
        )


def balanced_assign(similarity: torch.Tensor, capacity: int) -> torch.Tensor:
    """Each row to a column, best similarity first, no column over `capacity` rows."""
    n, e = similarity.shape
    order = torch.argsort(similarity.reshape(-1), descending=True).tolist()
    labels = [-1] * n
    load = [0] * e
    left = n
    for flat in order:
        row, col = divmod(flat, e)
        if labels[row] < 0 and load[col] < capacity:
            labels[row] = col
            load[col] += 1
            left -= 1
            if not left:
                break
    return torch.tensor(labels)


def balanced_kmeans(
    rows: torch.Tensor, experts: int, iterations: int = 15, seed: int = 0
) -> torch.Tensor:
    """Expert number of each row (cosine k-means, equal-size clusters)."""
    n = rows.shape[0]
    points = torch.nn.functional.normalize(rows.detach().float(), dim=1)
    generator = torch.Generator().manual_seed(seed)
    centroids = points[torch.randperm(n, generator=generator)[:experts]].clone()
    labels = torch.full((n,), -1)
    for _ in range(iterations):
        new = balanced_assign(points @ centroids.T, n // experts)
        if torch.equal(new, labels):
            break
        labels = new
        for e in range(experts):
            centroids[e] = torch.nn.functional.normalize(points[labels == e].mean(0), dim=0)
    return labels


def expert_neurons(labels: torch.Tensor, experts: int) -> list[list[int]]:
    return [torch.nonzero(labels == e).squeeze(1).tolist() for e in range(experts)]


def check_partition(groups: list[list[int]], neurons: int, where: str) -> None:
    """A saved partition must cover each of the layer's neurons once, in equal groups."""
    flat = sorted(n for group in groups for n in group)
    if flat != list(range(neurons)) or len({len(g) for g in groups}) != 1:
        raise SpireError(
            f"{where}: the saved experts are not an equal split of the layer's {neurons} neurons"
        )
