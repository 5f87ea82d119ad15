"""Pruned model folders (`spire prune --out DIR`): built from their config, then filled
with their sparse weights, densified bit for bit (sparsity/storage.py)."""

from __future__ import annotations

from pathlib import Path


def wants_pruned(loader, source: str) -> bool:
    """Is `loader` a model class's from_pretrained (not a tokenizer's) and `source` a
    pruned model folder?"""
    if not hasattr(getattr(loader, "__self__", None), "from_config"):
        return False
    if not (Path(source) / "sparsity.json").is_file():  # cheap, before torch is imported
        return False
    from sparsity.storage import is_pruned_folder

    return is_pruned_folder(source)


def load_pruned(loader, source: str, **kwargs):
    """What `loader(source, **kwargs)` returns for a dense folder: the model, with
    `output_loading_info` its missing and unexpected keys."""
    from transformers import AutoConfig

    from sparsity.storage import load_into

    want_info = kwargs.pop("output_loading_info", False)
    dtype = kwargs.pop("dtype", None)
    config = AutoConfig.from_pretrained(source)
    model = loader.__self__.from_config(config)
    if dtype is not None:
        model = model.to(dtype)
    info = load_into(model, source)
    _install_sparsity(model, source)
    model.eval()
    return (model, info) if want_info else model


def _install_sparsity(model, source: str) -> None:
    """Activation thresholds and experts (`spire sparsify`), as sparsity.json asks."""
    from sparsity.runtime import install, wants_install
    from sparsity.storage import read_manifest

    manifest = read_manifest(source)
    if wants_install(manifest):
        install(model, manifest, source)
