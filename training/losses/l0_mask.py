"""l0-style sparsification for documents (Shen, Geng and Yang, "Exploring l0
Sparsification for Inference-free Sparse Retrievers", SIGIR 2025; OpenSearch's sample
trainer calls the threshold `flops_threshold`).

Two separate knobs:
- `l0_doc_mask`: FLOPS acts only on documents with more than `max_terms` non-zero terms,
  so a document that is already sparse enough optimises the ranking loss alone.
- `threshold_activations`: activations below a threshold are zeroed in the forward pass,
  so the ranking loss never relies on (and never pays gradient into) tiny weights that
  cost a posting each but move scores by almost nothing.
"""

from __future__ import annotations

from torch import Tensor

from .registry import Batch

L0_CITATION = (
    "with losses.l0_doc_threshold, only documents over it pay (Shen, Geng and Yang, "
    "'Exploring l0 Sparsification for Inference-free Sparse Retrievers', SIGIR 2025)"
)


def l0_doc_mask(reps: Tensor, max_terms: int) -> Tensor:
    """1.0 for rows with more than `max_terms` non-zero entries, else 0.0 (shape (N,))."""
    return ((reps != 0).sum(dim=-1) > max_terms).to(reps.dtype)


def threshold_activations(reps: Tensor, threshold: float) -> Tensor:
    """reps where reps >= threshold, else 0. Kept entries pass their gradient unchanged;
    zeroed ones pass none."""
    if threshold <= 0:
        return reps
    return reps * (reps >= threshold).to(reps.dtype)


def batch_doc_mask(batch: Batch) -> Tensor | None:
    """The l0 row mask of the batch's documents, or None when losses.l0_doc_threshold is
    not set (every document pays the penalty)."""
    threshold = batch.settings.l0_doc_threshold
    return None if threshold is None else l0_doc_mask(batch.docs, threshold)
