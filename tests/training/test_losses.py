"""Each loss and schedule against values computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest
import torch

from training.losses import (
    flops,
    group_layout,
    idf_aware_flops,
    info_nce,
    kl_distillation,
    l0_doc_mask,
    margin_mse,
    matched_flops,
    threshold_activations,
)
from training.schedules import LambdaSchedule, linear_lr_factor


def test_info_nce_all_candidates():
    # Query 0: positive score 2 among (2, 1, 0):
    #   -2 + log(e^2 + e^1 + e^0) = log(1 + e^-1 + e^-2) = log(1.503215) = 0.407606
    # Query 1: positive score 3 among (0, 3, 1):
    #   -3 + log(e^0 + e^3 + e^1) = log(1 + e^-3 + e^-2) = log(1.185122) = 0.169846
    # Mean: (0.407606 + 0.169846) / 2 = 0.288726
    scores = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    loss = info_nce(scores, torch.tensor([0, 1]))
    assert loss.item() == pytest.approx(0.288726, abs=1e-6)


def test_info_nce_hard_negatives_only_vs_in_batch():
    # Two queries, groups of 2 (positive, hard negative): columns 0-1 and 2-3.
    scores = torch.tensor([[3.0, 1.0, 5.0, 5.0], [0.0, 0.0, 2.0, 0.0]])
    positives, own = group_layout(2, 2)
    assert positives.tolist() == [0, 2]
    assert own.tolist() == [[True, True, False, False], [False, False, True, True]]
    # Own group only. Query 0: -3 + log(e^3 + e^1) = log(1 + e^-2) = 0.126928.
    # Query 1: -2 + log(e^2 + e^0) = log(1 + e^-2) = 0.126928. Mean 0.126928.
    assert info_nce(scores, positives, own).item() == pytest.approx(0.126928, abs=1e-6)
    # In-batch: every column. Query 0: -3 + log(e^3 + e^1 + 2 e^5) = 2.767165;
    # query 1: -2 + log(e^0 + e^0 + e^2 + e^0) = log(1 + 3 e^-2) = 0.340753.
    # Mean (2.767165 + 0.340753) / 2 = 1.553959.
    assert info_nce(scores, positives).item() == pytest.approx(1.553959, abs=1e-6)


def test_info_nce_masks_false_negatives_and_keeps_the_positive():
    # Column 1 is another positive of query 0: masked, the loss is as if it were absent:
    # -2 + log(e^2 + e^0) = log(1 + e^-2) = 0.126928. The mask of the positive itself is
    # ignored (it is always a candidate).
    scores = torch.tensor([[2.0, 9.0, 0.0]])
    allowed = torch.tensor([[False, False, True]])
    assert info_nce(scores, torch.tensor([0]), allowed).item() == pytest.approx(0.126928, abs=1e-6)


def test_info_nce_temperature_divides_scores():
    # Scores (4, 2) at T=2 behave as (2, 1): -2 + log(e^2 + e^1) = log(1 + e^-1) = 0.313262.
    loss = info_nce(torch.tensor([[4.0, 2.0]]), torch.tensor([0]), temperature=2.0)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-6)


def test_kl_distillation():
    # Teacher (0, 0) -> p = (0.5, 0.5). Student (ln 3, 0) -> q = (3/4, 1/4).
    # KL(p||q) = 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25) = 0.5(-0.405465) + 0.5(0.693147) = 0.143841
    student = torch.tensor([[math.log(3.0), 0.0]])
    teacher = torch.tensor([[0.0, 0.0]])
    assert kl_distillation(student, teacher).item() == pytest.approx(0.143841, abs=1e-6)
    # T = 2: student (ln 3 / 2, 0) -> q = (sqrt3/(sqrt3+1), 1/(sqrt3+1)) = (0.633975, 0.366025)
    # KL = 0.5 ln(0.5/0.633975) + 0.5 ln(0.5/0.366025) = 0.037252
    assert kl_distillation(student, teacher, 2.0).item() == pytest.approx(0.037252, abs=1e-6)
    # Equal distributions: 0, whatever the shift (softmax is shift-invariant).
    assert kl_distillation(teacher + 5, teacher).item() == pytest.approx(0.0, abs=1e-7)


def test_margin_mse():
    # Row 1: student margins 5-3=2, 5-1=4; teacher 4-3=1, 4-0=4 -> errors 1, 0.
    # Row 2: student margins 0, 0; teacher 3-0=3, 3-1=2 -> errors 9, 4.
    # Mean over the 4 margins: (1 + 0 + 9 + 4) / 4 = 3.5
    student = torch.tensor([[5.0, 3.0, 1.0], [2.0, 2.0, 2.0]])
    teacher = torch.tensor([[4.0, 3.0, 0.0], [3.0, 0.0, 1.0]])
    assert margin_mse(student, teacher).item() == pytest.approx(3.5)
    with pytest.raises(ValueError):
        margin_mse(student[:, :1], teacher[:, :1])


def test_flops_and_row_mask():
    # Column means of |r| over N=2 rows: (1+3)/2 = 2, 0, (2+0)/2 = 1 -> 2^2 + 0 + 1^2 = 5.
    reps = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    assert flops(reps).item() == pytest.approx(5.0)
    # Row 2 masked out, N stays 2: means 0.5, 0, 1 -> 0.25 + 1 = 1.25.
    assert flops(reps, torch.tensor([1.0, 0.0])).item() == pytest.approx(1.25)


def test_idf_aware_flops_prices_a_unit_of_score_by_one_over_idf_squared():
    w = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]], requires_grad=True)
    idf = torch.tensor([0.5, 2.0, 4.0])
    # IDF-aware: on the raw weights, column means 2, 0, 1 -> 4 + 0 + 1 = 5.
    aware = idf_aware_flops(w, idf)
    assert aware.item() == pytest.approx(5.0)
    # Plain FLOPS on the matched vector c = idf * w = [[0.5, 0, 8], [1.5, 0, 0]]:
    # column means 1, 0, 4 -> 1 + 0 + 16 = 17.
    matched = matched_flops(w, idf)
    assert matched.item() == pytest.approx(17.0)
    # Gradients on w_00 and w_02 (N = 2):
    #   aware:   d/dw_0t = 2 * mean_t / N          -> t=0: 2*2/2 = 2, t=2: 2*1/2 = 1
    #   matched: d/dw_0t = 2 * mean(c)_t * idf_t / N -> t=0: 2*1*0.5/2 = 0.5, t=2: 2*4*4/2 = 16
    (g_aware,) = torch.autograd.grad(aware, w)
    (g_matched,) = torch.autograd.grad(matched, w)
    assert g_aware[0, [0, 2]].tolist() == pytest.approx([2.0, 1.0])
    assert g_matched[0, [0, 2]].tolist() == pytest.approx([0.5, 16.0])
    # Per unit of score (c_t = idf_t w_t, so dL/dc = dL/dw / idf): aware charges the
    # low-IDF term 2/0.5 = 4 and the high-IDF one 1/4 = 0.25; matched charges both the
    # same function of the mean score for every term: dL/dc_t = 2 mean(c)_t / N (1 and 4).
    per_score = g_aware[0, [0, 2]] / idf[[0, 2]]
    assert per_score.tolist() == pytest.approx([4.0, 0.25])
    with pytest.raises(ValueError):
        idf_aware_flops(w, idf[:2])


def test_matched_flops_does_not_shrink_a_learnable_idf():
    w = torch.tensor([[1.0, 2.0]], requires_grad=True)
    idf = torch.tensor([1.0, 3.0], requires_grad=True)
    matched_flops(w, idf).backward()
    assert idf.grad is None  # detached: the document penalty leaves the IDF alone


def test_l0_doc_mask_and_activation_threshold():
    # Non-zero counts 2, 1, 0; with threshold 1 only the first row (2 > 1) is penalised.
    reps = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert l0_doc_mask(reps, 1).tolist() == [1.0, 0.0, 0.0]
    # Activations below 0.5 are zeroed; 0.5 itself is kept. Zeroed ones pass no gradient.
    x = torch.tensor([0.2, 0.5, 1.0], requires_grad=True)
    y = threshold_activations(x, 0.5)
    assert y.tolist() == [0.0, 0.5, 1.0]
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0]
    assert threshold_activations(x, 0.0) is x


def test_quadratic_lambda_warmup():
    lam = LambdaSchedule(1e-3, warmup=10)
    # value * (step / warmup)^2: step 5 -> 1e-3 * 0.25 = 2.5e-4; from step 10 on: 1e-3.
    assert [lam(s) for s in (0, 5, 10, 20)] == pytest.approx([0.0, 2.5e-4, 1e-3, 1e-3])
    delayed = LambdaSchedule(1e-3, warmup=10, start=4)
    # 0 up to step 4; step 9 is 5 steps in: 1e-3 * (5/10)^2 = 2.5e-4.
    assert [delayed(4), delayed(9), delayed(14)] == pytest.approx([0.0, 2.5e-4, 1e-3])
    linear = LambdaSchedule(1e-3, warmup=10, shape="linear")
    assert linear(5) == pytest.approx(5e-4)
    assert LambdaSchedule(1e-3, warmup=10, shape="constant")(1) == pytest.approx(1e-3)
    with pytest.raises(ValueError):
        LambdaSchedule(1.0, shape="cubic")


def test_linear_lr_factor():
    # warmup 2, total 6: steps 1, 2 rise 1/2, 2/2; then (6 - s + 1) / (6 - 2): 1, 3/4, 2/4, 1/4.
    factors = [linear_lr_factor(s, 2, 6) for s in range(1, 7)]
    assert factors == pytest.approx([0.5, 1.0, 1.0, 0.75, 0.5, 0.25])
    assert linear_lr_factor(1, 0, 1) == pytest.approx(1.0)
