"""Training losses, one file each: ranking (InfoNCE, KL, MarginMSE) and sparsity (FLOPS,
IDF-aware FLOPS, l0 mask). Each acts on score matrices or representation batches, never
on models, so the same loss serves the siamese and the inference-free student.

Each file also registers its loss in `LOSSES` (registry.py), which is what the trainer
sums. Every module of this package is imported here, so a new file that calls
`register` is a new loss: nothing else needs editing.
"""

import importlib
import pkgutil

# Sorted imports register the built-in ranking losses as infonce, kl, margin_mse: the
# order a step computes and sums them in (registry.configured), as before the registry.
from .flops import flops
from .idf_flops import idf_aware_flops, matched_flops
from .infonce import group_layout, info_nce
from .kl import kl_distillation
from .l0_mask import l0_doc_mask, threshold_activations
from .margin_mse import margin_mse
from .registry import LOSSES, Batch, Loss, Term, configured, register

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "LOSSES",
    "Batch",
    "Loss",
    "Term",
    "configured",
    "flops",
    "group_layout",
    "idf_aware_flops",
    "info_nce",
    "kl_distillation",
    "l0_doc_mask",
    "margin_mse",
    "matched_flops",
    "register",
    "threshold_activations",
]
