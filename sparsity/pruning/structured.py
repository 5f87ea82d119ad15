"""Structured pruning: whole feed-forward neurons and attention heads leave, so the
matrices physically shrink (BERT-like encoders and Llama-like decoders).

A unit (one neuron, one head, or one key/value head with its query heads) owns a block of
rows in each producer layer and of columns in the consumer layer. Units are ranked by the
consumer's columns: magnitude by their weight norm, random by a seeded draw, Wanda by
sum |W_ij| ||X_j||, GBLM adds its gradient term, and SparseGPT by the optimal-brain-
surgeon error of removing the unit, after which the remaining columns are updated to
compensate (the same update as unstructured SparseGPT, for a group of columns at once).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch
from torch import nn

from spire.core.errors import SpireError

from .layers import set_submodule
from .sparsegpt import damped_hessian
from .spec import PruneSpec
from .stats import LayerStats


@dataclass
class Units:
    kind: str  # "ffn" or "heads"
    producers: list[tuple[str, int]]  # layer name in the block, rows per unit
    consumer: str
    cols_per_unit: int
    count: int
    owner: str | None = None  # attention module whose head count follows the shrink


def find_units(block: nn.Module, kind: str) -> Units | None:
    """The units of one kind in a BERT-like or Llama-like block, else None."""
    has = _has(block)
    if kind == "ffn":
        if has("intermediate.dense") and has("output.dense"):
            return _units("ffn", block, [("intermediate.dense", 1)], "output.dense", 1)
        if has("mlp.gate_proj") and has("mlp.down_proj"):
            prods = [("mlp.gate_proj", 1), ("mlp.up_proj", 1)]
            return _units("ffn", block, prods, "mlp.down_proj", 1)
        return None
    if has("attention.self.query"):
        attn = block.get_submodule("attention.self")
        hd = attn.attention_head_size
        prods = [(f"attention.self.{p}", hd) for p in ("query", "key", "value")]
        return _units("heads", block, prods, "attention.output.dense", hd, "attention.self")
    if has("self_attn.q_proj"):
        attn = block.get_submodule("self_attn")
        hd, groups = attn.head_dim, attn.num_key_value_groups
        prods = [("self_attn.q_proj", hd * groups), ("self_attn.k_proj", hd)]
        prods.append(("self_attn.v_proj", hd))
        return _units("heads", block, prods, "self_attn.o_proj", hd * groups)
    return None


def plan(blocks: list[tuple[str, nn.Module]], spec: PruneSpec) -> dict[str, list[Units]]:
    """The units of every block, checked before any work: each kind must exist and keep
    at least one unit in every layer."""
    kinds = ["ffn", "heads"] if spec.structured == "both" else [spec.structured]
    result = {}
    for name, block in blocks:
        units = []
        for kind in kinds:
            found = find_units(block, kind)
            if found is None:
                raise SpireError(
                    f"structured {kind}: block {name or '(model)'} is neither BERT-like nor "
                    "Llama-like (no feed-forward / attention layers found by name)"
                )
            if removed_count(found, spec) >= found.count:
                raise SpireError(
                    f"structured {kind} at {share(found, spec):g} would remove every one of "
                    f"the {found.count} units of {name}"
                )
            units.append(found)
        result[name] = units
    return result


def share(units: Units, spec: PruneSpec) -> float:
    if units.kind == "heads" and spec.head_sparsity is not None:
        return spec.head_sparsity
    return spec.sparsity


def removed_count(units: Units, spec: PruneSpec) -> int:
    return int(round(share(units, spec) * units.count))


def prune_units(block: nn.Module, units: Units, stats: LayerStats | None, spec: PruneSpec) -> int:
    """Remove the lowest-ranked units of `block` in place; returns how many went."""
    drop = removed_count(units, spec)
    if drop == 0:
        return 0
    consumer = block.get_submodule(units.consumer)
    w = consumer.weight.detach().double()
    groups = w.reshape(w.shape[0], units.count, units.cols_per_unit)
    if spec.method == "sparsegpt":
        damped = damped_hessian(stats.hessian, spec.damp)
        hinv = torch.cholesky_inverse(torch.linalg.cholesky(damped))
        order = torch.argsort(_obs_errors(groups, hinv, units), stable=True)
    else:
        order = torch.argsort(_scores(groups, stats, spec, units), stable=True)
    removed = torch.sort(order[:drop]).values
    keep_units = torch.sort(order[drop:]).values
    with torch.no_grad():
        if spec.method == "sparsegpt":
            _compensate(consumer, hinv, _columns(removed, units.cols_per_unit))
        _shrink(block, units, keep_units)
    return drop


def _scores(groups, stats, spec, units) -> torch.Tensor:
    if spec.method == "magnitude":
        return groups.pow(2).sum((0, 2))
    if spec.method == "random":
        seed = spec.seed * 1_000_003 + zlib.crc32(units.consumer.encode())
        return torch.rand(units.count, generator=torch.Generator().manual_seed(seed)).double()
    norm = stats.column_norm().double().reshape(1, units.count, units.cols_per_unit)
    score = (groups.abs() * norm).sum((0, 2))
    if spec.method == "gblm":
        g = stats.grad.double().reshape(groups.shape)
        score = score + spec.gblm_alpha * (groups * g).abs().sum((0, 2))
    return score


def _obs_errors(groups, hinv, units) -> torch.Tensor:
    """tr(W_u [H^-1]_uu^-1 W_u^T): the output error of removing unit u alone, the others
    re-fitted."""
    c = units.cols_per_unit
    if c == 1:
        return groups[:, :, 0].pow(2).sum(0) / torch.diag(hinv)
    errors = torch.empty(units.count, dtype=torch.float64)
    for u in range(units.count):
        block = hinv[u * c : (u + 1) * c, u * c : (u + 1) * c]
        wu = groups[:, u, :]
        errors[u] = (wu @ torch.linalg.solve(block, wu.T)).trace()
    return errors


def _compensate(consumer: nn.Linear, hinv: torch.Tensor, cols: torch.Tensor) -> None:
    """W <- W - W_R [H^-1]_RR^-1 [H^-1]_R: the least-squares fit of the remaining columns."""
    w = consumer.weight.detach().double()
    coef = torch.linalg.solve(hinv[cols][:, cols].T, w[:, cols].T).T  # W_R [H^-1]_RR^-1
    delta = coef @ hinv[cols]
    consumer.weight.copy_((w - delta).to(consumer.weight.dtype))


def _columns(units_idx: torch.Tensor, per_unit: int) -> torch.Tensor:
    return (units_idx.unsqueeze(1) * per_unit + torch.arange(per_unit)).reshape(-1)


def _shrink(block: nn.Module, units: Units, keep: torch.Tensor) -> None:
    for name, rows_per_unit in units.producers:
        layer = block.get_submodule(name)
        set_submodule(block, name, _select(layer, _columns(keep, rows_per_unit), dim=0))
    consumer = block.get_submodule(units.consumer)
    cols = _columns(keep, units.cols_per_unit)
    set_submodule(block, units.consumer, _select(consumer, cols, dim=1))
    if units.owner is not None:
        sync_head_counts(block.get_submodule(units.owner))


def _select(layer: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    weight = layer.weight.detach().index_select(dim, index).clone()
    new = nn.Linear(weight.shape[1], weight.shape[0], bias=layer.bias is not None)
    new = new.to(dtype=layer.weight.dtype)
    new.weight.data.copy_(weight)
    if layer.bias is not None:
        bias = layer.bias.detach()
        new.bias.data.copy_(bias.index_select(0, index) if dim == 0 else bias)
    return new


def sync_head_counts(attention: nn.Module) -> None:
    """A BERT self-attention's head count from its (possibly shrunk) query layer."""
    if hasattr(attention, "attention_head_size") and hasattr(attention, "query"):
        width = attention.query.out_features
        attention.num_attention_heads = width // attention.attention_head_size
        attention.all_head_size = width


def _has(block: nn.Module):
    def has(name: str) -> bool:
        try:
            return isinstance(block.get_submodule(name), nn.Linear)
        except AttributeError:
            return False

    return has


def _units(kind, block, producers, consumer, cols_per_unit, owner=None) -> Units:
    cols = block.get_submodule(consumer).in_features
    return Units(kind, producers, consumer, cols_per_unit, cols // cols_per_unit, owner)
