"""SPLADE from an encoder without an MLM head (`BertModel`, `MPNetModel`, `DistilBertModel`...).

The backbone is wrapped in its architecture's own `*ForMaskedLM` class: the trained layers
are copied in, and the head that class defines is initialised here. The saved folder is
then an ordinary masked-LM checkpoint, so `load_masked_lm`, `--model DIR`, the pruned
exact head (encoders/sparse_head.py finds the tied decoder) and ONNX export take it as
they take splade-tiny, with no special case.

How the new head starts (all of it trainable):
- transform dense: the identity (weight I, bias 0), and its LayerNorm the default
  (gain 1, shift 0): "identity-like", so a token's logit for term v is, up to the GELU
  and the normalisation, its contextual state dotted with v's input embedding. Untrained,
  MiniLM's top terms are then the text's own words and close neighbours ("what is the
  capital of france": capital, france, french, capitals, paris).
- decoder: tied to the input word embeddings (no new matrix; a vocabulary the backbone
  learned).
- bias: one constant for every term, calibrated on unlabelled text so that an average
  text keeps about `terms_per_doc` positive terms; special tokens ([CLS], [SEP], ...)
  get `SPECIAL_BIAS` so they never fire. Neither zero nor log unigram frequency: with a
  zero bias, MiniLM's untrained vectors hold 22k-30k of 30,522 terms (all but unindexable),
  and a log-frequency bias would lift the frequent, least informative terms, the
  opposite of what retrieval wants. The bias is for training to reshape (the warm start
  and FLOPS regularisation); the constant only makes the starting point sparse.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from spire.core.artefacts import atomic_folder
from spire.core.errors import SpireError

MARKER = "splade_head.json"  # how the head was built, beside the weights
SPECIAL_BIAS = -100.0
DEFAULT_TERMS_PER_DOC = 128
# Used when no texts are given: varied, unremarkable prose, so a bare call is repeatable.
CALIBRATION_TEXTS = (
    "The boundary layer on a flat plate thickens downstream as the flow slows near the wall.",
    "Patients given the drug for six weeks showed lower blood pressure than the placebo group.",
    "The library lends books, maps and recordings, and its reading room opens at nine.",
    "Prices rose in the third quarter as energy costs passed on to consumers.",
    "The river floods each spring, and the farmers plant rice once the water recedes.",
    "A compiler translates source code into machine instructions before the program runs.",
    "The treaty ended the war and fixed the border along the mountain ridge.",
    "Cells divide by mitosis, copying their chromosomes so each daughter gets a full set.",
)


def word_embeddings(backbone: nn.Module) -> nn.Embedding:
    """The backbone's input word embeddings, or a one-line error naming its class."""
    try:
        embeddings = backbone.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        embeddings = None
    if not isinstance(embeddings, nn.Embedding):
        raise SpireError(
            f"{type(backbone).__name__} has no input word embeddings to tie a SPLADE "
            "decoder to; use a text encoder (BertModel, MPNetModel, DistilBertModel, ...)"
        )
    return embeddings


def splade_from_backbone(
    backbone: nn.Module,
    tokenizer,
    *,
    terms_per_doc: int = DEFAULT_TERMS_PER_DOC,
    texts: Sequence[str] | None = None,
) -> nn.Module:
    """The backbone's `*ForMaskedLM` twin: its trained layers, a new head as the module
    doc says, in eval mode. `texts` calibrate the bias (default `CALIBRATION_TEXTS`)."""
    from transformers import AutoModelForMaskedLM

    word_embeddings(backbone)  # first: a backbone without them is refused by its class
    if terms_per_doc < 1:
        raise SpireError(f"terms_per_doc must be >= 1, got {terms_per_doc}")
    try:
        mlm = AutoModelForMaskedLM.from_config(backbone.config)
    except ValueError:
        raise SpireError(
            f"{type(backbone).__name__}: transformers has no masked-LM class for "
            f"model type {backbone.config.model_type!r} to build a SPLADE head on"
        ) from None
    body = getattr(mlm, mlm.base_model_prefix)
    result = body.load_state_dict(backbone.state_dict(), strict=False)
    if result.missing_keys:
        raise SpireError(
            f"{type(backbone).__name__}: its weights do not fill {type(mlm).__name__} "
            f"(missing {result.missing_keys[0]})"
        )
    mlm.tie_weights()
    decoder = _tied_decoder(mlm)
    _init_transform(mlm, decoder)
    _calibrate_bias(mlm, decoder, tokenizer, texts or CALIBRATION_TEXTS, terms_per_doc)
    return mlm.eval()


def _tied_decoder(mlm: nn.Module) -> nn.Linear:
    decoder = mlm.get_output_embeddings()
    if not isinstance(decoder, nn.Linear) or decoder.bias is None:
        raise SpireError(f"{type(mlm).__name__}: its decoder is not a linear layer with a bias")
    if decoder.weight is not mlm.get_input_embeddings().weight:
        raise SpireError(f"{type(mlm).__name__}: its decoder is not tied to the word embeddings")
    return decoder


def _head_modules(mlm: nn.Module, decoder: nn.Linear) -> list[nn.Module]:
    body = getattr(mlm, mlm.base_model_prefix)
    inside = {id(m) for m in body.modules()} | {id(decoder)}
    return [m for m in mlm.modules() if id(m) not in inside]


@torch.no_grad()
def _init_transform(mlm: nn.Module, decoder: nn.Linear) -> None:
    """Square dense layers of the head -> identity; its LayerNorms -> gain 1, shift 0."""
    for module in _head_modules(mlm, decoder):
        if isinstance(module, nn.Linear) and module.in_features == module.out_features:
            module.weight.copy_(torch.eye(module.in_features))
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, nn.LayerNorm):
            module.reset_parameters()


@torch.no_grad()
def _calibrate_bias(mlm, decoder: nn.Linear, tokenizer, texts, terms_per_doc: int) -> None:
    """One constant bias: minus the median over `texts` of each text's
    (terms_per_doc + 1)-th largest max-pooled logit; special tokens far below it."""
    decoder.bias.zero_()
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
    decoder.bias[special] = SPECIAL_BIAS
    batch = tokenizer(
        list(texts), padding=True, truncation=True, max_length=256, return_tensors="pt"
    )
    mlm.eval()
    logits = mlm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logits = logits.masked_fill(~batch["attention_mask"].bool().unsqueeze(-1), float("-inf"))
    pooled = logits.amax(dim=1)
    k = min(terms_per_doc + 1, pooled.shape[1])
    threshold = pooled.topk(k, dim=1).values[:, -1].median()
    decoder.bias.sub_(threshold)


def build_splade(
    name: str,
    out: str | Path,
    *,
    terms_per_doc: int = DEFAULT_TERMS_PER_DOC,
    texts: Sequence[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Load the bare encoder `name` (registry name, folder or hub id), give it a SPLADE
    head (`splade_from_backbone`) and save it to `out` as a masked-LM folder, atomically."""
    from .loading import load_base_model, load_tokenizer

    tokenizer = load_tokenizer(name)
    backbone = load_base_model(name)
    mlm = splade_from_backbone(backbone, tokenizer, terms_per_doc=terms_per_doc, texts=texts)
    record = {
        "backbone": name,
        "backbone_class": type(backbone).__name__,
        "masked_lm_class": type(mlm).__name__,
        "transform": "identity dense, default LayerNorm",
        "decoder": "tied to the input word embeddings",
        "bias": "constant, calibrated",
        "terms_per_doc": terms_per_doc,
        "calibration_texts": len(texts) if texts else "built-in",
        "bias_value": float(_tied_decoder(mlm).bias.detach().max()),
    }
    with atomic_folder(out, overwrite=overwrite) as staging:
        mlm.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / MARKER).write_text(json.dumps(record, indent=2) + "\n")
    return Path(out)
