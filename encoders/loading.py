"""Load a Hugging Face model (masked LM, bare encoder, or any backbone to prune) and its
tokenizer, with one-line errors."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from spire.core.errors import SpireError

from .hub import hub_reachable, looks_like_repo_id
from .pruned import load_pruned, wants_pruned
from .registry import REGISTRY, describe_attempts, resolve


def _quiet_transformers() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def from_pretrained(loader, name: str, **kwargs):
    """`loader(source, **kwargs)` for a local folder or registry model; else from the HF
    cache; else from the hub, if reachable (so an offline machine fails at once)."""
    _refuse_generator(name)
    source = resolve(name)
    if wants_pruned(loader, source):
        return load_pruned(loader, source, **kwargs)
    if Path(source).is_dir():
        return loader(source, **kwargs)
    if not looks_like_repo_id(source):
        raise OSError("not a valid hub id")
    try:
        return loader(source, local_files_only=True, **kwargs)
    except OSError as exc:
        if not hub_reachable():
            raise OSError("the hub is unreachable and the model is not in the HF cache") from exc
        return loader(source, **kwargs)


def load_tokenizer(name: str):
    """The fast tokenizer of a registry name, local folder or hub id."""
    _quiet_transformers()
    from transformers import AutoTokenizer

    try:
        return from_pretrained(AutoTokenizer.from_pretrained, name)
    except (OSError, ValueError) as exc:
        raise SpireError(
            f"unknown model {name!r}: {describe_attempts(name)} ({first_line(exc)})"
        ) from None


def load_masked_lm(name: str):
    """A masked LM with its MLM head; refuses a checkpoint whose head would be random."""
    _quiet_transformers()
    from transformers import AutoModelForMaskedLM

    try:
        model, info = from_pretrained(
            AutoModelForMaskedLM.from_pretrained, name, output_loading_info=True
        )
    except (OSError, ValueError) as exc:
        raise SpireError(
            f"unknown model {name!r}: {describe_attempts(name)} ({first_line(exc)})"
        ) from None
    missing = [k for k in info.get("missing_keys", []) if _is_head_key(k)]
    if missing:
        raise SpireError(
            f"model {name!r} ({type(model).__name__}) has no trained MLM head "
            f"(missing {missing[0]}); SPLADE needs a masked-LM checkpoint"
        )
    return model.eval()


def load_base_model(name: str):
    """The bare transformer (`AutoModel`, no head), as a bi-encoder's backbone.

    Refuses a checkpoint whose encoder weights would be randomly initialised; a missing
    pooler is fine, since mean pooling never uses it.
    """
    _quiet_transformers()
    from transformers import AutoModel

    try:
        model, info = from_pretrained(AutoModel.from_pretrained, name, output_loading_info=True)
    except (OSError, ValueError) as exc:
        raise SpireError(
            f"unknown model {name!r}: {describe_attempts(name)} ({first_line(exc)})"
        ) from None
    missing = [k for k in info.get("missing_keys", []) if not k.startswith("pooler.")]
    if missing:
        raise SpireError(
            f"model {name!r} ({type(model).__name__}) lacks trained encoder weights "
            f"(missing {missing[0]})"
        )
    return model.eval()


def load_backbone(name: str):
    """(model, tokenizer, kind, source folder or id) for pruning: a masked LM, a causal LM
    or a bare encoder ("masked-lm", "causal-lm", "base"), as the config's architectures
    say, in float32 and eval mode."""
    source = resolve(name)
    tokenizer = load_tokenizer(source)  # first: it also quiets transformers' progress bars
    kind = backbone_kind(source)
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM

    loader = {"causal-lm": AutoModelForCausalLM, "masked-lm": AutoModelForMaskedLM}.get(
        kind, AutoModel
    )
    try:
        net = from_pretrained(loader.from_pretrained, source, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise SpireError(f"model {name!r} could not be loaded: {first_line(exc)}") from None
    return net.eval(), tokenizer, kind, source


def backbone_kind(source: str) -> str:
    """ "causal-lm", "masked-lm" or "base", from the config's architectures."""
    from transformers import AutoConfig

    try:
        archs = from_pretrained(AutoConfig.from_pretrained, source).architectures or []
    except (OSError, ValueError):
        return "base"  # the model loader then reports what is wrong
    if any(a.endswith("ForCausalLM") for a in archs):
        return "causal-lm"
    if any(a.endswith("ForMaskedLM") for a in archs):
        return "masked-lm"
    return "base"


def _refuse_generator(name: str) -> None:
    entry = REGISTRY.get(name)
    if entry is not None and entry.kind == "causal-lm":
        raise SpireError(
            f"model {name!r} is a causal LM for writing pseudo-queries (training's "
            "pseudo_query_kind 'generated'), not an encoder"
        )


def _is_head_key(key: str) -> bool:
    # Tied decoder weights are reported missing by some versions although they are shared.
    return (
        key.startswith(("cls.", "lm_head.", "vocab_", "predictions."))
        and "decoder.weight" not in key
    )


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextmanager
def torch_threads(n: int) -> Iterator[int]:
    """torch's CPU threads set to `n` for the block (0: left as they are), then restored.
    Yields the count in force."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
