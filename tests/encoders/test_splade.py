from __future__ import annotations

import numpy as np
import torch

from encoders.batching import token_budget_batches

TEXTS = [
    "The capital of France is Paris, a city on the Seine.",
    "",
    "Sparse retrieval with learned term weights " * 20,
    "   ",
    "heat transfer",
    "Buckling of thin cylindrical shells under external pressure.",
]


def _naive(encoder, text: str, max_length: int) -> np.ndarray:
    """One text at a time, no padding: max over tokens of log(1 + relu(logits))."""
    enc = encoder.tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.inference_mode():
        logits = encoder.model(**enc).logits[0]
    return torch.log1p(torch.relu(logits)).max(dim=0).values.numpy()


def test_model_card_check(siamese_encoder):
    """../shared/MODELS.md: ~15 terms; capital 2.79, france 2.36, french 1.84, city 1.31."""
    q = siamese_encoder.encode_queries(["what is the capital of france"])
    vocab = siamese_encoder.tokenizer.get_vocab()
    assert 12 <= q.nnz <= 18
    for token, weight in [("capital", 2.79), ("france", 2.36), ("french", 1.84), ("city", 1.31)]:
        assert abs(q[0, vocab[token]] - weight) < 0.01


def test_batched_equals_one_at_a_time(siamese_encoder):
    siamese_encoder.tokens_per_batch = 300  # force several batches of mixed lengths
    try:
        got = siamese_encoder.encode_documents(TEXTS).toarray()
    finally:
        siamese_encoder.tokens_per_batch = 8192
    assert got.shape == (len(TEXTS), 30522)
    assert got.dtype == np.float32
    for i, text in enumerate(TEXTS):
        if not text.strip():
            assert not got[i].any(), "a blank text must encode to an empty row"
        else:
            np.testing.assert_allclose(got[i], _naive(siamese_encoder, text, 256), atol=1e-5)


def test_query_and_document_max_length(siamese_encoder):
    long_text = " ".join(f"word{i}" for i in range(400))
    q = siamese_encoder.encode_queries([long_text]).toarray()[0]
    d = siamese_encoder.encode_documents([long_text]).toarray()[0]
    np.testing.assert_allclose(q, _naive(siamese_encoder, long_text, 64), atol=1e-5)
    np.testing.assert_allclose(d, _naive(siamese_encoder, long_text, 256), atol=1e-5)
    assert not np.allclose(q, d)


def test_token_budget_batches_cover_each_index_once_within_budget():
    lengths = [5, 300, 17, 17, 64, 1, 250, 9]
    batches = list(token_budget_batches(lengths, 600))
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 600
