"""Weight pruning and activation sparsity for encoder backbones. Not built yet."""
