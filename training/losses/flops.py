"""FLOPS regulariser (Paria et al. 2020, as used by SPLADE): the squared mean activation of
each vocabulary term over a batch, summed. It approximates the expected number of
multiplications a query-document match costs, so it favours terms that few documents use
(short posting lists) rather than merely short vectors.

Registered here: "query-flops" (a siamese student's query vectors). The document
penalties "flops" and "idf-flops" are registered in idf_flops.py."""

from __future__ import annotations

from torch import Tensor

from .registry import Batch, register


def flops(reps: Tensor, row_mask: Tensor | None = None) -> Tensor:
    """sum_t ((1/N) sum_i m_i |r_it|)^2 over a (N, vocab) batch.

    `row_mask` (N,), 0 or 1, drops rows from the sum but not from N, so a masked row
    costs nothing and the others keep their weight (the l0 mask of Shen et al. 2025,
    OpenSearch's "concurrent" mode); see l0_mask.py.
    """
    weights = reps.abs()
    if row_mask is not None:
        weights = weights * row_mask.to(weights.dtype).unsqueeze(-1)
    return (weights.mean(dim=0) ** 2).sum()


FLOPS_CITATION = (
    "Paria et al., 'Minimizing FLOPs to Learn Efficient Sparse Representations', ICLR "
    "2020; as used by SPLADE (Formal, Piwowarski and Clinchant, SIGIR 2021)"
)


@register("query-flops", FLOPS_CITATION, kind="query", students=("siamese",))
def query_flops_loss(batch: Batch) -> Tensor:
    return flops(batch.queries)
