"""The sparsity core: weight pruning of any torch backbone (`sparsity.pruning`) and the
compact storage of pruned models (`sparsity.storage`).

Imports only torch, numpy, safetensors and spire's core (errors, files).
"""

from __future__ import annotations


def prune(*args, **kwargs):
    """`sparsity.pruning.prune`: see there."""
    from .pruning import prune as _prune

    return _prune(*args, **kwargs)
