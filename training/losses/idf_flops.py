"""IDF-aware FLOPS for inference-free students (Geng, Ru and Yang, "Towards Competitive
Search Relevance for Inference-Free Learned Sparse Retrievers", arXiv:2411.04403, 2024).

An inference-free retriever scores a document d for a query q as

    s(q, d) = sum_t idf_t * 1[t in q] * w_dt

so c_dt = idf_t * w_dt is what term t adds to the score, and it is what the ranking loss
sees. The question is which of the two vectors the sparsity penalty acts on:

- `matched_flops`: plain FLOPS on the matched vector c = idf * w,
  sum_t (mean_d c_dt)^2. Every unit of score costs the same, whatever the term. Written
  on the indexed weights w it is sum_t idf_t^2 (mean_d w_dt)^2: the rarer (more
  informative) a term, the harder its weight is pushed down. That is the suppression of
  informative terms the paper sets out to avoid.
- `idf_aware_flops`: FLOPS on the indexed weights w while the ranking loss is computed
  on c = idf * w, i.e. sum_t (mean_d w_dt)^2 = sum_t idf_t^-2 (mean_d c_dt)^2. A unit
  of score from term t now costs 1/idf_t^2: low-IDF terms (stopwords, suffixes) are
  penalised hard, high-IDF terms lightly, which is the paper's "IDF-aware penalty for
  the matching function that suppresses the contribution of low-IDF tokens".

Sources (read through the search tool; no code copied): the paper's abstract (v1 names
the "IDF-aware FLOPS loss ... introduces IDF to the sparsification of representations";
v2 the wording quoted above); OpenSearch's opensearch-sparse-model-tuning-sample, whose
inference-free query vector is the token bag times relu(idf) (scripts/model/
sparse_encoders.py) while the trainer's document FLOPS is taken on the raw document
representation (scripts/train/trainer.py), with a quadratic warm-up of lambda; and
summaries of the paper describing high-IDF tokens as "given less penalty". A summary of
the follow-up l0 paper (Shen, Geng and Yang, SIGIR 2025) writes IDF inside the FLOPS
mean, which would be `matched_flops`; we follow the reference code. docs/training.md
records this choice.
"""

from __future__ import annotations

from torch import Tensor

from .flops import FLOPS_CITATION, flops
from .l0_mask import L0_CITATION, batch_doc_mask
from .registry import Batch, register


def _check(doc_weights: Tensor, idf: Tensor) -> None:
    if idf.shape != doc_weights.shape[-1:]:
        raise ValueError(f"idf has shape {tuple(idf.shape)}, documents {tuple(doc_weights.shape)}")


def idf_aware_flops(doc_weights: Tensor, idf: Tensor, row_mask: Tensor | None = None) -> Tensor:
    """sum_t (mean_d w_dt)^2: the per-unit-of-score price of term t is 1/idf_t^2.

    The IDF is not multiplied in here on purpose: it sits in the matching function (the
    ranking loss uses idf * w), so penalising w itself is what makes the penalty fall
    with IDF. Terms with idf 0 can never match a query; they keep the full penalty, since
    their postings cost index space for nothing.
    """
    _check(doc_weights, idf)
    return flops(doc_weights, row_mask)


def matched_flops(doc_weights: Tensor, idf: Tensor, row_mask: Tensor | None = None) -> Tensor:
    """sum_t (mean_d idf_t w_dt)^2: plain FLOPS on the vector as matched (the ablation's
    IDF-unaware baseline). The IDF is detached so that a learnable IDF is not shrunk by
    the document penalty."""
    _check(doc_weights, idf)
    return flops(doc_weights * idf.detach().clamp(min=0), row_mask)


@register(
    "flops",
    f"{FLOPS_CITATION}; on an inference-free student's matched vector idf * w; {L0_CITATION}",
    kind="document",
)
def document_flops_loss(batch: Batch) -> Tensor:
    """FLOPS on the document vectors as matched: w for a siamese student, idf * w for an
    inference-free one (`matched_flops`)."""
    mask = batch_doc_mask(batch)
    if batch.student == "siamese":
        return flops(batch.docs, mask)
    return matched_flops(batch.docs, batch.idf, mask)


@register(
    "idf-flops",
    "Geng, Ru and Yang, 'Towards Competitive Search Relevance for Inference-Free Learned "
    f"Sparse Retrievers', arXiv:2411.04403, 2024; {L0_CITATION}",
    kind="document",
    students=("inference-free",),
)
def idf_aware_flops_loss(batch: Batch) -> Tensor:
    return idf_aware_flops(batch.docs, batch.idf, batch_doc_mask(batch))
