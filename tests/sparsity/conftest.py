"""A small real model (splade-tiny: BERT, 2 layers, 2 heads) and calibration batches."""

from __future__ import annotations

import pytest

TEXTS = [
    "Paris is the capital and largest city of France.",
    "The mitochondria is the powerhouse of the cell.",
    "Heat transfer in hypersonic boundary layers was measured in a shock tunnel.",
    "Statins lower the risk of cardiovascular events in adults with high cholesterol.",
    "Berlin is the capital of Germany and its most populous city.",
    "Buckling of thin cylindrical shells under external pressure.",
]


@pytest.fixture(scope="session")
def tiny_tokenizer(splade_tiny_path):
    from encoders.loading import load_tokenizer

    return load_tokenizer(str(splade_tiny_path))


@pytest.fixture()
def tiny_model(splade_tiny_path):
    """A fresh splade-tiny masked LM per test (pruning changes it in place)."""
    from encoders.loading import load_masked_lm

    return load_masked_lm(str(splade_tiny_path))


@pytest.fixture(scope="session")
def tiny_calib(tiny_tokenizer):
    """Unpadded batches of two texts each, cut to a common length."""
    batches = []
    for i in range(0, len(TEXTS), 2):
        enc = tiny_tokenizer(TEXTS[i : i + 2], return_tensors="pt", truncation=True, max_length=12)
        if enc["input_ids"].shape[1] < 12:
            enc = tiny_tokenizer(
                TEXTS[i : i + 2],
                return_tensors="pt",
                padding="max_length",
                truncation=True,
                max_length=12,
            )
        batches.append(dict(enc))
    return batches
