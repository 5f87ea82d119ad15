"""Training sparse encoders: inference-free and siamese SPLADE students, contrastive and
distillation losses with FLOPS / IDF-aware FLOPS sparsity, heterogeneous teacher
ensembles, and a resumable trainer. See docs/training.md.

    from training import TrainConfig, train
    config = TrainConfig.from_dict({"output": "models/mine", "train_data": "data/scifact"})
    result = train(config)  # sections: config.data, .student, .losses, .teachers, .optimiser, .run
"""

from spire.core.lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": "training.config",
    "TrainResult": "training.trainer",
    "train": "training.trainer",
}

__all__ = sorted(_EXPORTS)

# Lazy, so `import training` (and `spire --help`) does not pay for torch.
__getattr__ = lazy_exports(__name__, _EXPORTS)
