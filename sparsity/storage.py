"""Pruned models on disk: weights stored sparsely in safetensors, loaded back bit for bit.

A pruned model folder holds the model's `config.json` (and tokenizer files, written by
the caller), `model.sparse.safetensors` and `sparsity.json` (how it was pruned). In the
weights file, a matrix with at least a quarter of zeros is two tensors: `KEY::mask`
(one bit per weight, numpy's packbits order) and `KEY::values` (the weights whose bit
pattern is non-zero, row-major; so -0.0 survives). Other tensors are stored as they are.
Tied tensors are stored once; the header's metadata lists their aliases, the sparse
shapes and the N:M pattern.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save, save_file
from torch import nn

from spire.core.artefacts import atomic_folder
from spire.core.errors import SpireError
from spire.core.files import read_json_object, write_text_atomic

from .pruning.layers import set_submodule
from .pruning.structured import sync_head_counts

FORMAT = "spire-sparse-v1"
WEIGHTS = "model.sparse.safetensors"
MANIFEST = "sparsity.json"
MIN_ZERO_SHARE = 0.25  # below this a bitmask plus values is larger than the dense matrix
_BITS = {4: torch.int32, 2: torch.int16, 8: torch.int64, 1: torch.int8}


def is_pruned_folder(folder: str | Path) -> bool:
    return (Path(folder) / MANIFEST).is_file() and (Path(folder) / WEIGHTS).is_file()


def unique_tensors(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The state dict with each shared tensor once, and alias -> stored key."""
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for key, tensor in model.state_dict().items():
        ident = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tensor.shape)
        if ident in seen:
            aliases[key] = seen[ident]
        else:
            seen[ident] = key
            tensors[key] = tensor.detach().contiguous()
    return tensors, aliases


def encode(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, list]]:
    """The tensors to write, and the shape of each one stored as mask + values."""
    out: dict[str, torch.Tensor] = {}
    shapes: dict[str, list] = {}
    for key, t in tensors.items():
        if t.ndim != 2 or not t.is_floating_point() or _zero_share(t) < MIN_ZERO_SHARE:
            out[key] = t
            continue
        nonzero = _bit_view(t) != 0
        out[f"{key}::mask"] = torch.from_numpy(np.packbits(nonzero.reshape(-1).numpy()))
        out[f"{key}::values"] = t.reshape(-1)[nonzero.reshape(-1)].clone()
        shapes[key] = list(t.shape)
    return out, shapes


def write_weights(model: nn.Module, folder: Path, nm: tuple[int, int] | None) -> dict:
    """Write `WEIGHTS` into `folder`; returns its size and the dense file's, in bytes."""
    tensors, aliases = unique_tensors(model)
    encoded, shapes = encode(tensors)
    metadata = {
        "format": FORMAT,
        "sparse": json.dumps(shapes),
        "aliases": json.dumps(aliases),
        "nm": f"{nm[0]}:{nm[1]}" if nm else "",
    }
    save_file(encoded, folder / WEIGHTS, metadata=metadata)
    stored = sum(_nbytes(encoded[f"{k}::{p}"]) for k in shapes for p in ("mask", "values"))
    dense = sum(_nbytes(tensors[k]) for k in shapes)
    return {
        "file_bytes": (folder / WEIGHTS).stat().st_size,
        "dense_bytes": len(save(tensors)),
        # The matrices stored sparsely against their dense bytes (embeddings, never pruned,
        # dominate the whole-file ratio of small encoders).
        "sparse_matrices_ratio": stored / dense if dense else 1.0,
    }


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def read_state_dict(folder: str | Path) -> dict[str, torch.Tensor]:
    """The dense state dict of a pruned model folder, bit for bit as saved."""
    path = Path(folder) / WEIGHTS
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise SpireError(f"{path}: not a spire sparse weights file (format {FORMAT})")
            shapes = json.loads(meta["sparse"])
            state = {k: f.get_tensor(k) for k in f.keys() if "::" not in k}
            for key, shape in shapes.items():
                state[key] = _decode(
                    f.get_tensor(f"{key}::mask"), f.get_tensor(f"{key}::values"), shape
                )
            for alias, key in json.loads(meta["aliases"]).items():
                state[alias] = state[key]
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as exc:
        raise SpireError(f"{path}: unreadable sparse weights ({exc})") from None
    return state


def load_into(model: nn.Module, folder: str | Path) -> dict[str, list[str]]:
    """Load a pruned folder's weights into `model` built from its config: Linear layers
    that structured pruning shrank are resized first. Returns missing and unexpected keys."""
    state = read_state_dict(folder)
    resize_linears(model, state)
    result = model.load_state_dict(state, strict=False)
    return {
        "missing_keys": list(result.missing_keys),
        "unexpected_keys": list(result.unexpected_keys),
    }


def resize_linears(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    for name, module in list(model.named_modules()):
        weight = state.get(f"{name}.weight")
        if (
            isinstance(module, nn.Linear)
            and weight is not None
            and weight.shape != module.weight.shape
        ):
            new = nn.Linear(weight.shape[1], weight.shape[0], bias=module.bias is not None)
            set_submodule(model, name, new.to(module.weight.dtype))
    for module in model.modules():
        sync_head_counts(module)


def save_pruned(
    model: nn.Module,
    out: str | Path,
    manifest: dict,
    write_extras: Callable[[Path], None] | None = None,
    nm: tuple[int, int] | None = None,
    overwrite: bool = False,
) -> dict:
    """Write the pruned model folder `out` through a staging folder renamed into place
    (spire.core.artefacts.atomic_folder: a crash leaves the old folder or the new, and only a
    folder spire wrote is replaced, with `overwrite`). Returns the manifest as written."""
    with atomic_folder(out, overwrite) as staging:
        if hasattr(model, "config") and hasattr(model.config, "save_pretrained"):
            model.config.save_pretrained(staging)
        if write_extras is not None:
            write_extras(staging)
        manifest = {"format": FORMAT, **manifest, **write_weights(model, staging, nm)}
        manifest["size_ratio"] = manifest["file_bytes"] / manifest["dense_bytes"]
        write_text_atomic(staging / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(folder: str | Path) -> dict:
    return read_json_object(Path(folder) / MANIFEST)


def _bit_view(t: torch.Tensor) -> torch.Tensor:
    return t.view(_BITS[t.element_size()])


def _zero_share(t: torch.Tensor) -> float:
    return float((_bit_view(t) == 0).float().mean()) if t.numel() else 0.0


def _decode(packed: torch.Tensor, values: torch.Tensor, shape: list) -> torch.Tensor:
    count = int(np.prod(shape))
    nonzero = torch.from_numpy(np.unpackbits(packed.numpy(), count=count).astype(bool))
    dense = torch.zeros(count, dtype=values.dtype)
    dense[nonzero] = values
    return dense.reshape(shape)
