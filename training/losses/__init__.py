"""Training losses, one file each: ranking (InfoNCE, KL, MarginMSE) and sparsity (FLOPS,
IDF-aware FLOPS, l0 mask). Each acts on score matrices or representation batches, never
on models, so the same loss serves the siamese and the inference-free student."""

from .flops import flops
from .idf_flops import idf_aware_flops, matched_flops
from .infonce import group_layout, info_nce
from .kl import kl_distillation
from .l0_mask import l0_doc_mask, threshold_activations
from .margin_mse import margin_mse

__all__ = [
    "flops",
    "group_layout",
    "idf_aware_flops",
    "info_nce",
    "kl_distillation",
    "l0_doc_mask",
    "margin_mse",
    "matched_flops",
    "threshold_activations",
]
