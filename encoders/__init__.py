"""Sparse encoders: texts -> scipy.sparse.csr_matrix of shape (n, vocab), float32."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import scipy.sparse as sp

from spire.core.choices import IDF_SOURCES, MODES
from spire.core.errors import SpireError

from .idf import load_idf_json
from .lexical import Lexical, load_lexical
from .registry import resolve

if TYPE_CHECKING:  # tqdm: `import encoders` stays light
    from .batching import EncodeStats


class SparseEncoder(Protocol):
    """A document side plus a query side (encoders/sides.py). `idf` is the static query
    side's table (None where the model encodes queries); `fit_idf(texts)` sets and
    returns it from a corpus (None for a model query side); `lexical` is the documents'
    lexical term (off for siamese); `stats` sums up the last document encoding; `mode`
    names the pair ("siamese" or "inference-free") for manifests and messages."""

    name: str
    mode: str
    vocab_size: int
    query_max_length: int
    doc_max_length: int
    tokenizer: object
    idf: np.ndarray | None
    lexical: Lexical
    stats: EncodeStats

    def fit_idf(self, texts) -> np.ndarray | None: ...
    def encode_documents(self, texts, show_progress: bool = False) -> sp.csr_matrix: ...
    def encode_queries(self, texts, show_progress: bool = False) -> sp.csr_matrix: ...


def load_encoder(
    name: str,
    mode: str = "siamese",
    *,
    query_max_length: int = 64,
    doc_max_length: int = 256,
    idf: np.ndarray | None = None,
    tokens_per_batch: int = 8192,
    head: str = "auto",
    precision: str = "fp32",
    doc_top_k: int | None = None,
    lexical_weight: float | None = None,
    lexical_params: dict | None = None,
    idf_source: str = "model",
) -> SparseEncoder:
    """A SPLADE encoder by registry name, local folder or hub id.

    `head`, `precision` and `doc_top_k` choose how documents are encoded (see
    `encoders.splade.SpladeEncoder`); the defaults are exact.

    `mode="inference-free"` encodes queries as IDF-weighted tokens. Its IDF comes from
    `idf`, else (`idf_source="model"`) the model folder's OpenSearch-style idf.json,
    else `fit_idf(corpus)`; `idf_source="corpus"` ignores idf.json. `encoder.idf_from`
    then says which: "given", "model" or, once fitted, "corpus".
    Its documents also get a lexical term (encoders/lexical.py) as the model folder's
    lexical.json says (none: off); `lexical_weight` overrides its weight (0: off) and
    `lexical_params` its other fields (k1, b, avgdl: e.g. as an index recorded them). A
    siamese encoder has no lexical term.
    """
    from .inference_free import InferenceFreeEncoder
    from .loading import load_masked_lm, load_tokenizer
    from .query_tokenizer import BackendTokenizer, load_query_tokenizer

    if mode not in MODES:
        raise SpireError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if Path(name).expanduser().is_dir():
        name = str(Path(name).expanduser().resolve())  # so an index finds it from any cwd
    # Inference-free queries need only the tokenizer: one that imports no torch.
    tokenizer = load_query_tokenizer(name) if mode == "inference-free" else load_tokenizer(name)

    def splade():
        from .onnx_model import is_onnx_folder  # torch, loaded once documents are encoded
        from .splade import SpladeEncoder

        if is_onnx_folder(name):
            return _onnx_encoder(name, precision, doc_top_k, query_max_length, doc_max_length)
        if precision == "int8":
            raise SpireError("precision int8 is for ONNX folders (spire models export-onnx)")
        return SpladeEncoder(
            name,
            load_masked_lm(name),
            load_tokenizer(name) if isinstance(tokenizer, BackendTokenizer) else tokenizer,
            query_max_length=query_max_length,
            doc_max_length=doc_max_length,
            tokens_per_batch=tokens_per_batch,
            head=head,
            precision=precision,
            doc_top_k=doc_top_k,
        )

    if mode == "siamese":
        if lexical_weight is not None and Lexical(lexical_weight).enabled:
            raise SpireError("a lexical weight is for mode inference-free (queries are tokens)")
        return splade()
    if idf_source not in IDF_SOURCES:
        raise SpireError(f"unknown idf source {idf_source!r}; choose {' or '.join(IDF_SOURCES)}")
    idf_from = "given" if idf is not None else None
    idf_file = Path(resolve(name)) / "idf.json"
    if idf is None and idf_source == "model" and idf_file.is_file():
        idf, idf_from = load_idf_json(idf_file, tokenizer), "model"
    encoder = InferenceFreeEncoder(
        name,
        tokenizer,
        splade,
        idf=idf,
        query_max_length=query_max_length,
        doc_max_length=doc_max_length,
        lexical=_lexical(name, lexical_weight, lexical_params),
    )
    encoder.idf_from = idf_from
    return encoder


def _lexical(name: str, weight: float | None, params: dict | None) -> Lexical:
    """The model folder's lexical.json with `weight` and `params` overriding its fields."""
    if weight == 0:
        return Lexical()  # off: the folder's file is not even read
    fields = {**load_lexical(resolve(name)).to_dict(), **(params or {})}
    if weight is not None:
        fields["weight"] = weight
    return Lexical(**fields)


def _onnx_encoder(folder, precision, doc_top_k, query_max_length, doc_max_length):
    from .onnx_model import OnnxSpladeEncoder

    if precision == "bf16":
        raise SpireError(f"{folder} is an ONNX folder: it takes precision fp32 or int8 only")
    return OnnxSpladeEncoder(
        folder,
        variant=precision,
        doc_top_k=doc_top_k,
        query_max_length=query_max_length,
        doc_max_length=doc_max_length,
    )


__all__ = ["MODES", "SparseEncoder", "load_encoder"]
