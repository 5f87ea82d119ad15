"""Options and choices shared by the `spire` commands (index, search, eval, compare)."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated

import typer

from spire.core.choices import (
    FUSION_METHODS,
    HEADS,
    IDF_SOURCES,
    IMPACT_DTYPES,
    MODES,
    PRECISIONS,
)
from spire.core.errors import SpireError


def choices(name: str, values: tuple[str, ...]) -> type[StrEnum]:
    """A typer choice of the library's own names (spire.core.choices): a member per
    value, named as Python spells it ("inference-free" -> Mode.inference_free)."""
    return StrEnum(name, [(value.replace("-", "_"), value) for value in values])


Mode = choices("Mode", MODES)
ImpactDtype = choices("ImpactDtype", IMPACT_DTYPES)
Head = choices("Head", HEADS)
Precision = choices("Precision", PRECISIONS)
Fusion = choices("Fusion", FUSION_METHODS)
IdfSource = choices("IdfSource", IDF_SOURCES)


class IdenticalIds(StrEnum):
    auto = "auto"
    drop = "drop"
    keep = "keep"


# Chosen on SciFact's train queries (docs/encoding.md#which-idf): see scripts/idf_choice.py.
IDF_DEFAULT = IdfSource.corpus
IdfOpt = Annotated[
    IdfSource,
    typer.Option(
        "--idf",
        help="Inference-free query IDF: corpus (fitted on the corpus indexed) or model "
        "(the model folder's idf.json, where it has one; else the corpus).",
    ),
]
ThreadsOpt = Annotated[
    int,
    typer.Option(min=0, help="torch CPU threads for encoding (0: torch's default, one per core)."),
]

ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="Registry name, local folder or Hugging Face id.")
]
ModeOpt = Annotated[
    Mode,
    typer.Option(
        help="siamese: the model encodes queries too; "
        "inference-free: queries are IDF-weighted tokens."
    ),
]
DtypeOpt = Annotated[ImpactDtype, typer.Option(help="Stored impact type (quantised or float).")]
HeadOpt = Annotated[
    Head,
    typer.Option(
        help="Vocabulary projection: pruned (bf16 bound + exact re-check), chunked (exact "
        "fp32 slices), reference (full logits); auto picks pruned on CPUs with bf16."
    ),
]
PrecisionOpt = Annotated[
    Precision,
    typer.Option(
        help="bf16: transformer layers in bf16 (faster, inexact); int8: the quantised graph "
        "of an ONNX folder (`spire models export-onnx`)."
    ),
]
DocTopKOpt = Annotated[
    int | None, typer.Option(min=1, help="Keep each document's k heaviest terms.")
]


LexicalWeightOpt = Annotated[
    float | None,
    typer.Option(
        help="Inference-free: add this times BM25 over word pieces to every score, through "
        "the document vectors (0: off); default: the model folder's lexical.json, else off.",
        show_default=False,
    ),
]


LexicalStemOpt = Annotated[
    int | None,
    typer.Option(
        min=0,
        help="Inference-free lexical term: count each word's Snowball stem class of at most "
        "N word pieces as one term (0: exact pieces); default: the model folder's "
        "lexical.json, else 0.",
        show_default=False,
    ),
]


def encoder_options(
    head: Head,
    precision: Precision,
    doc_top_k: int | None,
    lexical_weight: float | None,
    lexical_stem: int | None = None,
) -> dict:
    if lexical_weight is not None and not (math.isfinite(lexical_weight) and lexical_weight >= 0):
        raise SpireError(f"--lexical-weight must be a finite number >= 0, not {lexical_weight}")
    options = {
        "head": head.value,
        "precision": precision.value,
        "doc_top_k": doc_top_k,
        "lexical_weight": lexical_weight,
    }
    if lexical_stem is not None:
        options["lexical_params"] = {"stem_class_max": lexical_stem}
    return options


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
