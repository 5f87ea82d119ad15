"""What a model folder's sparsity.json asks of the model at load time: activation
thresholds (`activation`) and mixtures of experts (`moe`), installed by `install`, and
where they apply (`apply_to`: "queries", the default, or "all"); `for_documents`
turns them off while documents are encoded when they are for queries only."""

from __future__ import annotations

from contextlib import contextmanager

from torch import nn

from spire.core.errors import SpireError

APPLY_TO = ("queries", "all")
SECTIONS = ("activation", "moe")


def wants_install(manifest: dict) -> bool:
    return any(manifest.get(key) for key in SECTIONS)


def install(model: nn.Module, manifest: dict, source: str = "") -> nn.Module:
    """`model` with the manifest's activation sparsity and MoE layers in place."""
    apply_to = manifest.get("apply_to", "queries")
    if apply_to not in APPLY_TO:
        raise SpireError(f"{source}/sparsity.json: apply_to {apply_to!r} is not one of {APPLY_TO}")
    if manifest.get("moe"):
        from .moe import apply as apply_moe

        apply_moe(model, manifest["moe"])
    if manifest.get("activation"):
        from .activation import apply as apply_activation

        execution = manifest.get("execution", {})
        apply_activation(
            model,
            manifest["activation"],
            execution.get("path", "gather"),
            execution.get("gather_below", 0.3),
        )
    model.spire_sparsity_applies_to = apply_to
    return model


def _switchable(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if hasattr(m, "enabled") and m is not model]


@contextmanager
def dense_inside(model: nn.Module):
    """Every sparse module of `model` runs dense inside the block."""
    modules = _switchable(model)
    before = [m.enabled for m in modules]
    for m in modules:
        m.enabled = False
    try:
        yield model
    finally:
        for m, state in zip(modules, before, strict=True):
            m.enabled = state


@contextmanager
def for_documents(model: nn.Module):
    """Dense while documents are encoded, when the sparsity is for queries only."""
    if getattr(model, "spire_sparsity_applies_to", "all") == "queries":
        with dense_inside(model):
            yield model
    else:
        yield model


MOE_KEYS = {"experts": int, "top": int, "router": str, "routing": str}


def parse_moe(text: str) -> dict:
    """'experts=16,top=4[,router=fitted][,routing=token]' -> its fields (one-line errors)."""
    fields: dict = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key not in MOE_KEYS:
            raise SpireError(f"--moe {text!r}: expected experts=E,top=K[,router=...][,routing=...]")
        try:
            fields[key] = MOE_KEYS[key](value)
        except ValueError:
            raise SpireError(f"--moe {text!r}: {key} must be a whole number") from None
    if "experts" not in fields or "top" not in fields:
        raise SpireError(f"--moe {text!r}: give both experts= and top=")
    if fields["top"] > fields["experts"]:
        raise SpireError(f"--moe {text!r}: top={fields['top']} is more than experts")
    return fields


def parse_activation(text: str) -> tuple[str, float]:
    """'teal:0.5' -> ('teal', 0.5), checked (method known, target in [0, 1))."""
    from .activation import check_request

    method, sep, value = text.partition(":")
    try:
        target = float(value)
    except ValueError:
        raise SpireError(
            f"--activation-sparsity {text!r}: expected METHOD:TARGET, like teal:0.5"
        ) from None
    if not sep:
        raise SpireError(f"--activation-sparsity {text!r}: expected METHOD:TARGET, like teal:0.5")
    check_request(method, target, "layer")
    return method, target
