"""The pruned and chunked heads equal the full projection on real corpora (issue 7)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from encoders import load_encoder, sparse_head
from spire.core.errors import SpireError
from tests.conftest import BUNDLED_CRANFIELD, SHARED_DATA


def _texts(path, n: int) -> list[str]:
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            out.append(f"{doc.get('title', '')} {doc['text']}".strip())
            if len(out) == n:
                break
    return out


def _corpora() -> list[list[str]]:
    corpora = [_texts(BUNDLED_CRANFIELD / "corpus.jsonl", 200)]
    scifact = SHARED_DATA / "scifact" / "corpus.jsonl"
    if scifact.is_file():
        corpora.append(_texts(scifact, 200))
    return corpora


@pytest.fixture(scope="module")
def encoders_by_head(splade_tiny_path):
    return {
        head: load_encoder(str(splade_tiny_path), "siamese", head=head)
        for head in ("reference", "chunked", "pruned")
    }


@pytest.mark.parametrize("corpus", _corpora(), ids=["cranfield", "scifact"][: len(_corpora())])
def test_heads_equal_the_full_projection_on_real_corpora(encoders_by_head, corpus):
    texts = corpus + ["", "   ", "word " * 600]  # blank and over-long documents too
    reference = encoders_by_head["reference"].encode_documents(texts)
    for head in ("chunked", "pruned"):
        got = encoders_by_head[head].encode_documents(texts)
        assert abs(got - reference).max() <= 1e-4, head
        assert got.nnz == reference.nnz, head  # the same support, not just close values
    pruned = encoders_by_head["pruned"].stats
    # The bound is tight: a handful of re-checked pairs per non-zero, never the vocabulary.
    assert pruned.nonzeros <= pruned.candidates < 4 * pruned.nonzeros
    assert pruned.empty == 2 and pruned.truncated >= 1


def test_queries_use_the_same_head(encoders_by_head):
    queries = ["what is the capital of france", "heat transfer in hypersonic flow"]
    ref = encoders_by_head["reference"].encode_queries(queries)
    got = encoders_by_head["pruned"].encode_queries(queries)
    assert abs(got - ref).max() <= 1e-4


def test_bf16_bound_covers_the_worst_case_rounding():
    """The pre-pass error is below kappa |h| |w| for adversarially scaled random vectors."""
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(4000, 128, generator=gen) * torch.logspace(-2, 2, 4000).unsqueeze(1)
    w = torch.randn(512, 128, generator=gen)
    exact = h.double() @ w.double().T
    approx = (h.bfloat16() @ w.bfloat16().T).double()
    bound = sparse_head.bf16_error_factor(128) * h.norm(dim=1, keepdim=True) * w.norm(dim=1)
    assert ((approx - exact).abs() <= bound.double()).all()
    assert (approx - exact).abs().max() > 0  # the pre-pass really is inexact


def test_truncation_is_counted(encoders_by_head):
    enc = encoders_by_head["pruned"]
    enc.encode_documents(["short text", "long " * 400, "also long " * 300, ""])
    assert (enc.stats.texts, enc.stats.truncated, enc.stats.empty) == (4, 2, 1)


def test_doc_top_k_keeps_the_heaviest_terms(splade_tiny_path):
    texts = _texts(BUNDLED_CRANFIELD / "corpus.jsonl", 20)
    full = load_encoder(str(splade_tiny_path), "siamese").encode_documents(texts)
    cut = load_encoder(str(splade_tiny_path), "siamese", doc_top_k=16).encode_documents(texts)
    assert cut.getnnz(axis=1).max() == 16
    for i in range(len(texts)):
        row = full[i].toarray()[0]
        kept = cut[i].toarray()[0]
        assert set(np.flatnonzero(kept)) <= set(np.flatnonzero(row))
        np.testing.assert_array_equal(kept[kept > 0], row[kept > 0])
        assert kept[kept > 0].min() >= np.sort(row)[-16]
    # Queries are never cut.
    q = load_encoder(str(splade_tiny_path), "siamese", doc_top_k=1).encode_queries(["a b c d"])
    assert q.nnz > 1


def test_training_forward_gradients_match_the_full_projection(splade_tiny_path):
    from encoders.loading import load_masked_lm, load_tokenizer
    from training.models import SpladeForward

    tokenizer = load_tokenizer(str(splade_tiny_path))
    texts = _texts(BUNDLED_CRANFIELD / "corpus.jsonl", 6)
    results = []
    for pruned in (False, True):
        mlm = load_masked_lm(str(splade_tiny_path))
        forward = SpladeForward(mlm, tokenizer, pruned_head=pruned)
        forward.eval()  # no dropout: both runs must compute the same function
        out = forward(texts, 96)
        (out.sum(dim=1) ** 2).mean().backward()
        grads = {n: p.grad for n, p in mlm.named_parameters() if p.grad is not None}
        results.append((out.detach(), grads))
    (out_full, g_full), (out_pruned, g_pruned) = results
    assert forward.pruned_head
    torch.testing.assert_close(out_pruned, out_full, atol=1e-5, rtol=0)
    for name, grad in g_full.items():
        if name.endswith("key.bias"):
            continue  # analytically zero (softmax is shift-invariant): pure rounding noise
        scale = grad.abs().max().item() + 1e-12
        assert (g_pruned[name] - grad).abs().max().item() <= 1e-3 * scale, name


class _ScaledLogits(torch.nn.Module):
    """A masked LM that rescales its logits after the decoder (as soft-capping models do)."""

    def __init__(self, mlm) -> None:
        super().__init__()
        self.mlm = mlm
        self.config = mlm.config

    def get_output_embeddings(self):
        return self.mlm.get_output_embeddings()

    def forward(self, **inputs):
        out = self.mlm(**inputs)
        out.logits = out.logits * 0.5
        return out


def test_a_head_that_cannot_be_split_falls_back_or_fails_clearly(splade_tiny_path):
    from encoders.loading import load_masked_lm, load_tokenizer
    from encoders.splade import SpladeEncoder

    tokenizer = load_tokenizer(str(splade_tiny_path))
    model = _ScaledLogits(load_masked_lm(str(splade_tiny_path)))
    assert sparse_head.verified_split(model, tokenizer) is None
    auto = SpladeEncoder("scaled", model, tokenizer, head="auto")
    assert auto.head == "reference"
    with pytest.raises(SpireError, match="cannot be split"):
        SpladeEncoder("scaled", model, tokenizer, head="pruned")


def test_bad_options_are_one_line_errors(splade_tiny_path):
    for kwargs, fragment in [
        ({"head": "fast"}, "unknown head"),
        ({"precision": "fp8"}, "unknown precision"),
        ({"doc_top_k": 0}, "doc_top_k"),
    ]:
        with pytest.raises(SpireError, match=fragment):
            load_encoder(str(splade_tiny_path), "siamese", **kwargs)
