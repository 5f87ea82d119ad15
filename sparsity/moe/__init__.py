"""MoEfication: each BERT feed-forward layer split into E equal experts (balanced k-means
on its input-projection rows), a router per layer, top-k experts per token or sequence.
The partition and routers are saved in sparsity.json (`moefy`) and the modules rebuilt
at load (`apply`). docs/sparsity.md, "MoE backbones"."""

from __future__ import annotations

import torch
from torch import nn

from spire.core.errors import SpireError

from ..pruning.layers import find_blocks
from ..pruning.sequential import run_batch
from .ffn import ROUTINGS, AddBias, MoEFeedForward, RoutingContext
from .partition import balanced_kmeans, check_partition, check_split, expert_neurons
from .router import ROUTERS, centroid_router, fitted_router

MAX_ROUTER_TOKENS = 16384  # calibration tokens per layer the fitted router sees


def feed_forward_layers(model: nn.Module) -> list[tuple[nn.Module, nn.Linear, nn.Linear]]:
    """(block, up, down) of each BERT-style block (`intermediate.dense`, `output.dense`);
    other architectures are refused in one line."""
    out = []
    for name, block in find_blocks(model):
        intermediate = getattr(block, "intermediate", None)
        output = getattr(getattr(block, "output", None), "dense", None)
        up = getattr(intermediate, "dense", None)
        if isinstance(intermediate, MoEFeedForward):
            raise SpireError(f"block {name!r} is already a mixture of experts")
        if not isinstance(up, nn.Linear) or not isinstance(output, nn.Linear):
            raise SpireError(
                f"block {name!r} has no BERT feed-forward layer (intermediate.dense, "
                "output.dense); MoEfication supports BERT-style encoders"
            )
        out.append((block, up, output))
    return out


def check_request(model: nn.Module, experts: int, top: int, router: str, routing: str):
    if router not in ROUTERS:
        raise SpireError(f"--moe router={router}: choose from {', '.join(ROUTERS)}")
    if routing not in ROUTINGS:
        raise SpireError(f"--moe routing={routing}: choose from {', '.join(ROUTINGS)}")
    for _, up, _ in feed_forward_layers(model):
        check_split(up.out_features, experts, top)


def _ffn_inputs(model: nn.Module, calib: list) -> list[torch.Tensor]:
    """Each block's feed-forward inputs over the calibration tokens (dense model)."""
    layers = feed_forward_layers(model)
    seen: list[list[torch.Tensor]] = [[] for _ in layers]
    handles = [
        up.register_forward_pre_hook(lambda _m, args, i=i: seen[i].append(args[0].flatten(0, -2)))
        for i, (_, up, _) in enumerate(layers)
    ]
    try:
        with torch.no_grad():
            for batch in calib:
                run_batch(model, batch)
    finally:
        for handle in handles:
            handle.remove()
    generator = torch.Generator().manual_seed(0)
    out = []
    for chunks in seen:
        tokens = torch.cat(chunks)
        if len(tokens) > MAX_ROUTER_TOKENS:
            tokens = tokens[torch.randperm(len(tokens), generator=generator)[:MAX_ROUTER_TOKENS]]
        out.append(tokens)
    return out


def moefy(
    model: nn.Module,
    experts: int,
    top: int,
    calib: list | None = None,
    router: str = "fitted",
    routing: str = "token",
    seed: int = 0,
) -> dict:
    """The `moe` section of sparsity.json for `model` (left unchanged)."""
    check_request(model, experts, top, router, routing)
    if router == "fitted" and not calib:
        raise SpireError("--moe router=fitted needs calibration data (--calib)")
    inputs = _ffn_inputs(model, calib) if router == "fitted" else None
    layers = []
    for i, (block, up, down) in enumerate(feed_forward_layers(model)):
        groups = expert_neurons(balanced_kmeans(up.weight, experts, seed=seed), experts)
        act = block.intermediate.intermediate_act_fn
        weight, bias = (
            fitted_router(inputs[i], up, down, act, groups)
            if router == "fitted"
            else centroid_router(up.weight, up.bias, groups)
        )
        layers.append(
            {"neurons": up.out_features, "experts": groups,
             "router_weight": weight.tolist(), "router_bias": bias.tolist()}
        )  # fmt: skip
    return {"experts": experts, "top": top, "router": router, "routing": routing,
            "seed": seed, "layers": layers}  # fmt: skip


def apply(model: nn.Module, section: dict, top: int | None = None) -> nn.Module:
    """Rebuild each feed-forward layer as a MoEFeedForward from the saved section (`top`
    overrides the saved top-k). Refuses a section written for another model."""
    layers = feed_forward_layers(model)
    saved = section["layers"]
    top = section["top"] if top is None else top
    if len(saved) != len(layers):
        raise SpireError(
            f"sparsity.json does not match the model: {len(saved)} MoE layers for "
            f"{len(layers)} blocks"
        )
    context = RoutingContext()
    for (block, up, down), entry in zip(layers, saved, strict=True):
        if entry["neurons"] != up.out_features or len(entry["router_bias"]) != section["experts"]:
            raise SpireError(
                f"sparsity.json does not match the model: {entry['neurons']} neurons in "
                f"{section['experts']} experts, the model has {up.out_features}"
            )
        check_split(up.out_features, section["experts"], top)
        check_partition(entry["experts"], up.out_features, "sparsity.json")
        router = (torch.tensor(entry["router_weight"]), torch.tensor(entry["router_bias"]))
        act = block.intermediate.intermediate_act_fn
        block.intermediate = MoEFeedForward(
            up, down, act, entry["experts"], router, top, section["routing"], context
        )
        block.output.dense = AddBias(down.bias, down.out_features)
    model.register_forward_pre_hook(_mask_recorder(context), with_kwargs=True)
    return model


def _mask_recorder(context: RoutingContext):
    def hook(_module, args, kwargs):
        context.mask = kwargs.get("attention_mask")

    return hook


__all__ = ["ROUTERS", "ROUTINGS", "apply", "check_request", "moefy"]
