"""Recovery of a pruned dense retrieval encoder by distilling the dense model's retrieval
scores (issue 17): KL or MarginMSE, the ranking losses of training's registry
(training/losses), computed on the `Batch` the trainer's losses read, through
`sparsity.recovery.recover` (the one fixed-mask loop; SquareHead is its other loss).

It lives here, above `sparsity`, because it reuses training's losses: `sparsity` may not
import training (docs/architecture.md).

No judged data is needed: each calibration window (eval.data.prune_data) is cut in two,
its first `query_tokens` tokens a query and the rest its document. Every query of a batch
is scored against every document of the batch, its own first (the layout MarginMSE reads:
column 0 is the positive), as cosine x `scale` of mean-pooled embeddings
(encoders.dense.mean_pooled), by the pruned student and by the dense teacher.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from encoders.dense import mean_pooled
from sparsity.recovery import recover
from spire.core.errors import SpireError

from .config_sections import LossesConfig
from .losses import LOSSES, Batch

SCORE_LOSSES = ("kl", "margin_mse")


def split_windows(batch: dict, query_tokens: int) -> tuple[dict, dict]:
    """([CLS] first query_tokens [SEP], [CLS] the rest ... [SEP]) of encoder windows."""
    ids = batch["input_ids"]
    if ids.shape[1] < query_tokens + 4:
        raise SpireError(
            f"calibration windows of {ids.shape[1]} tokens are too short for queries of "
            f"{query_tokens} tokens and a document"
        )
    cls, sep = ids[:, :1], ids[:, -1:]
    queries = torch.cat([cls, ids[:, 1 : 1 + query_tokens], sep], 1)
    docs = torch.cat([cls, ids[:, 1 + query_tokens :]], 1)
    return (
        {"input_ids": queries, "attention_mask": torch.ones_like(queries)},
        {"input_ids": docs, "attention_mask": torch.ones_like(docs)},
    )


def own_first(scores: torch.Tensor) -> torch.Tensor:
    """(n, n) scores -> (n, n): row i's column i first, then the others in order."""
    n = scores.shape[0]
    order = [[i, *(j for j in range(n) if j != i)] for i in range(n)]
    return scores.gather(1, torch.tensor(order, device=scores.device))


def score_loss(
    student: nn.Module,
    teacher: nn.Module,
    batch: dict,
    loss: str,
    query_tokens: int = 32,
    scale: float = 20.0,
) -> torch.Tensor:
    """The registered ranking loss `loss` of the student's scores against the teacher's
    on one batch of calibration windows."""
    queries, docs = split_windows(batch, query_tokens)
    with torch.no_grad():
        target = scale * mean_pooled(teacher, **queries) @ mean_pooled(teacher, **docs).T
    q, d = mean_pooled(student, **queries), mean_pooled(student, **docs)
    scores = scale * q @ d.T
    settings = LossesConfig(weights={loss: 1.0}, doc_regularizer="none")
    view = Batch(
        queries=q, docs=d, scores=scores, own=own_first(scores), targets=own_first(target),
        idf=None, student="siamese", settings=settings,
        in_batch_allowed=lambda: torch.ones_like(scores, dtype=torch.bool),
    )  # fmt: skip
    return LOSSES[loss].compute(view)


def score_distillation(
    student: nn.Module,
    teacher: nn.Module,
    calib: list[dict],
    masks: dict[str, torch.Tensor],
    steps: int,
    loss: str = "kl",
    lr: float = 1e-5,
    query_tokens: int = 32,
    quiet: bool = True,
    after_step: Callable[[int], None] | None = None,
) -> list[float]:
    """`steps` AdamW steps of `score_loss` over the calibration batches in turn, the
    pruning mask fixed; returns the loss per step."""
    check_score_loss(loss)
    batches = [b for b in calib if b["input_ids"].shape[0] >= 2]
    if not batches:
        raise SpireError("score recovery needs calibration batches of at least 2 windows")
    return recover(
        student,
        lambda step: score_loss(student, teacher, batches[step % len(batches)], loss, query_tokens),
        masks, steps, lr, quiet=quiet, after_step=after_step, name=loss,
    )  # fmt: skip


def check_score_loss(loss: str) -> None:
    if loss not in SCORE_LOSSES or loss not in LOSSES:
        raise SpireError(f"recovery loss {loss!r}: choose squarehead, {', '.join(SCORE_LOSSES)}")
