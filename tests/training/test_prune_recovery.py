"""Score-distillation recovery of a pruned encoder (training/prune_recovery.py): training's
KL and MarginMSE through sparsity.recovery.recover, on splade-tiny's BERT body (a real
mean-pooled bi-encoder of 2 layers), the mask fixed."""

from __future__ import annotations

import copy

import pytest
import torch

TEXTS = [
    "Heat transfer in hypersonic boundary layers was measured in a shock tunnel at Mach 7.",
    "Statins lower the risk of cardiovascular events in adults with high cholesterol levels.",
    "Buckling of thin cylindrical shells under external pressure and axial compression.",
    "The mitochondria is the powerhouse of the cell and makes most of its chemical energy.",
]


@pytest.fixture(scope="module")
def loaded_body(splade_tiny_path):
    from transformers import AutoModel

    from encoders.loading import load_tokenizer

    tokenizer = load_tokenizer(str(splade_tiny_path))
    net = AutoModel.from_pretrained(str(splade_tiny_path), dtype=torch.float32).eval()
    enc = tokenizer(TEXTS, return_tensors="pt", truncation=True, max_length=16,
                    padding="max_length")  # fmt: skip
    batch = {"input_ids": enc["input_ids"], "attention_mask": torch.ones_like(enc["input_ids"])}
    return net, [batch]


@pytest.fixture()
def body_and_batches(loaded_body):
    """A fresh copy per test (pruning and recovery change it in place)."""
    net, batches = loaded_body
    return copy.deepcopy(net), batches


def test_own_first_puts_each_querys_own_document_in_column_zero():
    from training.prune_recovery import own_first

    scores = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    assert own_first(scores).tolist() == [[1, 2, 3], [5, 4, 6], [9, 7, 8]]


def test_an_unpruned_student_has_the_teachers_scores(body_and_batches):
    from training.prune_recovery import score_loss

    net, batches = body_and_batches
    teacher = copy.deepcopy(net)
    assert score_loss(net, teacher, batches[0], "kl", query_tokens=4).item() == pytest.approx(
        0.0, abs=1e-6
    )
    assert score_loss(net, teacher, batches[0], "margin_mse", query_tokens=4).item() == 0.0
    # and a pruned one has not
    from sparsity.pruning import prune

    prune(net, "magnitude", 0.5)
    got = score_loss(net, teacher, batches[0], "kl", query_tokens=4)
    assert got.item() > 1e-4 and torch.isfinite(got)


@pytest.mark.parametrize("loss", ["kl", "margin_mse"])
def test_score_recovery_lowers_its_loss_and_never_moves_a_pruned_weight(body_and_batches, loss):
    from sparsity.pruning import prune
    from training.prune_recovery import score_distillation

    net, batches = body_and_batches
    teacher = copy.deepcopy(net)
    result = prune(net, "magnitude", 0.5)
    losses = score_distillation(
        net, teacher, batches, result.masks, steps=8, loss=loss, lr=1e-4, query_tokens=4
    )
    modules = dict(net.named_modules())
    for name, mask in result.masks.items():
        assert torch.all(modules[name].weight[~mask] == 0), name
    assert losses[-1] < losses[0]


def test_an_unknown_loss_and_single_window_batches_are_refused(body_and_batches):
    from spire.core.errors import SpireError
    from training.prune_recovery import score_distillation

    net, batches = body_and_batches
    with pytest.raises(SpireError, match="recovery loss 'infonce'"):
        score_distillation(net, net, batches, {}, steps=1, loss="infonce")
    one = [{k: v[:1] for k, v in batches[0].items()}]
    with pytest.raises(SpireError, match="at least 2 windows"):
        score_distillation(net, net, one, {}, steps=1, loss="kl")
