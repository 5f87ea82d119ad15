"""MarginMSE (Hofstätter et al.): match the teacher's positive-minus-negative margins.

Registered as the ranking loss "margin_mse" (flat config key margin_mse_weight)."""

from __future__ import annotations

from torch import Tensor

from .registry import Batch, register


def margin_mse(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean squared error between student and teacher margins s[:, 0] - s[:, j], j >= 1.

    Column 0 of each (queries, candidates) matrix is the positive. Margins, unlike raw
    scores, need no common scale between a sparse student and a normalised teacher mix.
    """
    if student.shape[1] < 2:
        raise ValueError("MarginMSE needs at least one negative per query")
    student_margins = student[:, :1] - student[:, 1:]
    teacher_margins = teacher[:, :1] - teacher[:, 1:]
    return ((student_margins - teacher_margins.to(student.dtype)) ** 2).mean()


@register(
    "margin_mse",
    "Hofstätter et al., 'Improving Efficient Neural Ranking Models with Cross-Architecture "
    "Knowledge Distillation', arXiv:2010.02666, 2020",
    needs_teachers=True,
)
def margin_mse_loss(batch: Batch) -> Tensor:
    return margin_mse(batch.own, batch.targets)
