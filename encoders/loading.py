"""Load a Hugging Face model (masked LM or bare encoder) and its tokenizer, with one-line errors."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from spire.errors import SpireError

from .hub import hub_reachable, looks_like_repo_id
from .registry import describe_attempts, resolve


def _quiet_transformers() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _from_pretrained(loader, name: str, **kwargs):
    """Local folder or registry model; else the HF cache; else the hub, if reachable."""
    source = resolve(name)
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
        return _from_pretrained(AutoTokenizer.from_pretrained, name)
    except (OSError, ValueError) as exc:
        raise SpireError(
            f"unknown model {name!r}: {describe_attempts(name)} ({_first_line(exc)})"
        ) from None


def load_masked_lm(name: str):
    """A masked LM with its MLM head; refuses a checkpoint whose head would be random."""
    _quiet_transformers()
    from transformers import AutoModelForMaskedLM

    try:
        model, info = _from_pretrained(
            AutoModelForMaskedLM.from_pretrained, name, output_loading_info=True
        )
    except (OSError, ValueError) as exc:
        raise SpireError(
            f"unknown model {name!r}: {describe_attempts(name)} ({_first_line(exc)})"
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
        model, info = _from_pretrained(AutoModel.from_pretrained, name, output_loading_info=True)
    except (OSError, ValueError) as exc:
        raise SpireError(
            f"unknown model {name!r}: {describe_attempts(name)} ({_first_line(exc)})"
        ) from None
    missing = [k for k in info.get("missing_keys", []) if not k.startswith("pooler.")]
    if missing:
        raise SpireError(
            f"model {name!r} ({type(model).__name__}) lacks trained encoder weights "
            f"(missing {missing[0]})"
        )
    return model.eval()


def _is_head_key(key: str) -> bool:
    # Tied decoder weights are reported missing by some versions although they are shared.
    return (
        key.startswith(("cls.", "lm_head.", "vocab_", "predictions."))
        and "decoder.weight" not in key
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
