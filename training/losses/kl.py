"""KL distillation: the student's score distribution over a query's candidates learns the
teacher's. Registered as the ranking loss "kl" (flat config key kl_weight)."""

from __future__ import annotations

import torch
from torch import Tensor

from .registry import Batch, register


def kl_distillation(student: Tensor, teacher: Tensor, temperature: float = 1.0) -> Tensor:
    """Mean over queries of KL(softmax(teacher / T) || softmax(student / T)).

    Both are (queries, candidates) score matrices over the same candidates. As in
    OpenSearch's sample trainer, the result is not multiplied by T^2: with the teacher
    scores already scaled (score_scale), T stays 1 and the factor would be a no-op.
    """
    log_student = torch.log_softmax(student / temperature, dim=-1)
    log_teacher = torch.log_softmax(teacher.to(student.dtype) / temperature, dim=-1)
    # kl_div(input=log q, target=log p, log_target) = sum p (log p - log q)
    per_query = torch.nn.functional.kl_div(
        log_student, log_teacher, reduction="none", log_target=True
    ).sum(dim=-1)
    return per_query.mean()


@register(
    "kl",
    "Hinton, Vinyals and Dean, 'Distilling the Knowledge in a Neural Network', "
    "arXiv:1503.02531, 2015; for SPLADE, Formal et al., 'From Distillation to Hard "
    "Negative Sampling', SIGIR 2022",
    needs_teachers=True,
)
def kl_loss(batch: Batch) -> Tensor:
    return kl_distillation(batch.own, batch.targets, batch.settings.temperature)
