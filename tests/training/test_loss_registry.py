"""The loss registry: every loss is a named callable with its citation, and a loss added
by registering it (no edit of the trainer or the config) is computed, weighted, logged
and trained on."""

from __future__ import annotations

import re

import pytest
import torch

from spire.core.errors import SpireError
from tests.training.conftest import quick_config
from training import TrainConfig
from training.losses import LOSSES, Batch, configured, register


def test_every_loss_is_registered_with_its_citation():
    assert {"infonce", "kl", "margin_mse", "flops", "idf-flops", "query-flops"} <= set(LOSSES)
    for loss in LOSSES.values():
        assert re.search(r"\b(19|20)\d\d\b", loss.citation), loss  # a work and its year
    assert "SIGIR 2025" in LOSSES["idf-flops"].citation  # the l0 mask
    assert LOSSES["kl"].needs_teachers and not LOSSES["infonce"].needs_teachers
    with pytest.raises(ValueError, match="registered twice"):
        register("kl", "again")(lambda batch: batch.scores.sum())


def test_configured_terms_follow_the_flat_weights_of_before():
    config = TrainConfig.from_dict(
        {"output": "x", "train_data": "y", "teachers": {"bm25": 1.0}, "kl_weight": 1.0,
         "infonce_weight": 0.0, "margin_mse_weight": 0.5, "flops_d_lambda": 1e-3,
         "flops_d_warmup": 10}
    )  # fmt: skip
    terms = configured(config.losses)
    assert [(t.name, t.loss.name) for t in terms] == [
        ("kl", "kl"),
        ("margin_mse", "margin_mse"),
        ("flops_d", "idf-flops"),
    ]
    assert [t.weight(5) for t in terms] == [1.0, 0.5, pytest.approx(1e-3 * 0.25)]


@pytest.fixture
def toy_loss():
    """A ranking loss registered from outside the package, removed afterwards."""
    seen: list[Batch] = []

    @register("toy", "a test's own loss, 2026")
    def toy(batch: Batch) -> torch.Tensor:
        seen.append(batch)
        return batch.own[:, 1:].clamp(min=0).mean()  # push hard negatives' scores down

    yield seen
    del LOSSES["toy"]


def test_a_registered_loss_is_trained_on_without_editing_the_trainer(
    toy_loss, tmp_path, toy_triples
):
    from training import train

    with pytest.raises(SpireError, match=r"'tuy' is no ranking loss \(registered: .*toy"):
        TrainConfig.from_dict({"output": "x", "train_data": "y", "losses.weights.tuy": 1})
    config = quick_config(tmp_path / "toy", toy_triples, steps=2, **{"losses.weights.toy": 0.5})
    assert config.losses.weights == {"infonce": 1.0, "toy": 0.5}
    result = train(config)
    assert len(toy_loss) == 2 and toy_loss[0].own.shape == (2, 2)  # batch 2, group 2
    first = result.history[0]
    assert first["toy"] > 0
    expected = first["infonce"] + 0.5 * first["toy"] + first["lambda_d"] * first["flops_d"]
    assert first["loss"] == pytest.approx(expected, rel=1e-5)
