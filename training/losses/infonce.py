"""InfoNCE (softmax cross-entropy over candidates) with hard and in-batch negatives.

Registered as the ranking loss "infonce" (flat config key infonce_weight)."""

from __future__ import annotations

import torch
from torch import Tensor

from .registry import Batch, register


def group_layout(n_queries: int, group_size: int) -> tuple[Tensor, Tensor]:
    """Positive column of each query and its own-group mask, for the trainer's layout.

    Documents are laid out query by query: query i owns columns [i*G, (i+1)*G), its
    positive first, then its hard negatives. The mask keeps only a query's own group,
    i.e. hard negatives without in-batch ones.
    """
    positives = torch.arange(n_queries) * group_size
    owner = torch.arange(n_queries * group_size) // group_size
    own_group = owner.unsqueeze(0) == torch.arange(n_queries).unsqueeze(1)
    return positives, own_group


def info_nce(
    scores: Tensor,
    positives: Tensor,
    allowed: Tensor | None = None,
    temperature: float = 1.0,
) -> Tensor:
    """Mean over queries of -log softmax(scores / temperature)[positive].

    `scores` is (queries, documents); `positives[i]` is query i's positive column.
    `allowed` (same shape, bool) removes candidates from the softmax: without in-batch
    negatives it is the own-group mask; with them it should still drop a query's other
    positives (the same query twice in a batch), which would be false negatives.
    The positive itself is always kept.
    """
    logits = scores / temperature
    if allowed is not None:
        allowed = allowed.clone()
        allowed[torch.arange(len(positives)), positives] = True
        logits = logits.masked_fill(~allowed, float("-inf"))
    return torch.nn.functional.cross_entropy(logits, positives.to(logits.device))


@register(
    "infonce",
    "van den Oord, Li and Vinyals, 'Representation Learning with Contrastive Predictive "
    "Coding', arXiv:1807.03748, 2018; in-batch negatives as in Karpukhin et al., 'Dense "
    "Passage Retrieval for Open-Domain Question Answering', EMNLP 2020",
)
def infonce_loss(batch: Batch) -> Tensor:
    """Over the own group (hard negatives), or the whole batch with in_batch_negatives."""
    n, group = batch.own.shape
    positives, own_group = group_layout(n, group)
    settings = batch.settings
    allowed = batch.in_batch_allowed() if settings.in_batch_negatives else own_group
    device = batch.scores.device
    return info_nce(batch.scores, positives.to(device), allowed.to(device), settings.temperature)
