"""Training sparse encoders: inference-free and siamese SPLADE students, contrastive and
distillation losses with FLOPS / IDF-aware FLOPS sparsity, heterogeneous teacher
ensembles, and a resumable trainer. See docs/training.md.

    from training import TrainConfig, train
    config = TrainConfig.from_dict({"output": "models/mine", "train_data": "data/scifact"})
    result = train(config)  # sections: config.data, .student, .losses, .teachers, .optimiser, .run
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "TrainConfig": "training.config",
    "TrainResult": "training.trainer",
    "train": "training.trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy, so `import training` (and `spire --help`) does not pay for torch.
    if name not in _EXPORTS:
        raise AttributeError(f"module 'training' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
