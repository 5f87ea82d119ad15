"""SPLADE as an ONNX graph *with* its pooling, run by onnxruntime (optional `onnx` extra).

Exports that stop at the MLM logits leave the max over tokens to the user, who often
skips it (and mean-pools or takes [CLS]), and recall collapses. This graph takes
(input_ids, attention_mask) and returns the (batch, vocab) SPLADE weights directly:
padding masked out, max over tokens, log(1 + relu). An int8 variant quantises the
weights of every MatMul (dynamic quantisation).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from collections.abc import Sequence
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from spire.core.errors import SpireError

from .batching import EncodeStats, encode_sparse
from .lexical import LEXICAL_FILE
from .sides import ModelQueries
from .splade import keep_top_k

META = "spire_onnx.json"
GRAPHS = {"fp32": "model.onnx", "int8": "model-int8.onnx"}


class _PooledSplade(nn.Module):
    def __init__(self, mlm: nn.Module) -> None:
        super().__init__()
        self.mlm = mlm

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.mlm(input_ids=input_ids, attention_mask=attention_mask).logits
        # A finite fill: -inf through log1p(relu()) is fine, but some runtimes warn on it.
        logits = logits.masked_fill((attention_mask == 0).unsqueeze(-1), -1e4)
        return torch.log1p(torch.relu(logits.amax(dim=1)))


def export_onnx(model: str, out: Path, *, int8: bool = True, overwrite: bool = False) -> Path:
    """Write `out/` with model.onnx (+ model-int8.onnx), the tokenizer and spire_onnx.json
    (and the model folder's idf.json and lexical.json, where it has them), atomically;
    `overwrite` replaces only a folder spire wrote (spire.core.artefacts)."""
    _require_onnx()
    from spire.core.artefacts import atomic_folder, ensure_replaceable

    from .loading import load_masked_lm, load_tokenizer

    ensure_replaceable(out, overwrite)
    tokenizer = load_tokenizer(model)
    mlm = load_masked_lm(model)
    with atomic_folder(out, overwrite=overwrite) as staging:
        _write_folder(model, tokenizer, mlm, staging, int8)
    return out


def _write_folder(model: str, tokenizer, mlm, staging: Path, int8: bool) -> None:
    sample = tokenizer(["a b", "sparse retrieval"], padding=True, return_tensors="pt")
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length")
    with _quiet():
        _export(mlm, sample, staging, batch, length)
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            fp32, quantised = staging / GRAPHS["fp32"], staging / GRAPHS["int8"]
            quantize_dynamic(str(fp32), str(quantised), weight_type=QuantType.QInt8)
    tokenizer.save_pretrained(staging)
    from .registry import resolve

    # An inference-free model keeps its query IDF and its documents' lexical term.
    source = Path(resolve(model))
    for kept in ("idf.json", LEXICAL_FILE):
        if (source / kept).is_file():
            shutil.copyfile(source / kept, staging / kept)
    meta = {"source": model, "vocab_size": int(mlm.config.vocab_size), "graphs": _graphs(staging)}
    (staging / META).write_text(json.dumps(meta, indent=1))


def _export(mlm, sample, folder: Path, batch, length) -> None:
    torch.onnx.export(
        _PooledSplade(mlm).eval(),
        (sample["input_ids"], sample["attention_mask"]),
        str(folder / GRAPHS["fp32"]),
        input_names=["input_ids", "attention_mask"],
        output_names=["weights"],
        dynamic_shapes=({0: batch, 1: length}, {0: batch, 1: length}),
        dynamo=True,
        verbose=False,
    )


@contextmanager
def _quiet():
    """The exporter prints its passes and onnxruntime's quantiser logs advice at WARNING."""
    loggers = [logging.getLogger(), logging.getLogger("torch.onnx")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with (
            open(os.devnull, "w") as sink,
            redirect_stdout(sink),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _graphs(folder: Path) -> list[str]:
    return [v for v, name in GRAPHS.items() if (folder / name).is_file()]


def is_onnx_folder(path: str | Path) -> bool:
    return (Path(path) / META).is_file()


class OnnxSpladeEncoder(ModelQueries):
    """Siamese SPLADE through onnxruntime; the same interface as `SpladeEncoder`."""

    def __init__(
        self,
        folder: str | Path,
        *,
        variant: str = "fp32",
        query_max_length: int = 64,
        doc_max_length: int = 256,
        tokens_per_batch: int = 8192,
        threads: int = 0,
        doc_top_k: int | None = None,
    ) -> None:
        _require_onnx()
        import onnxruntime as ort

        from .loading import load_tokenizer

        folder = Path(folder)
        meta = json.loads((folder / META).read_text())
        if variant not in meta["graphs"]:
            raise SpireError(f"{folder}: no {variant} graph (has {', '.join(meta['graphs'])})")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        self.session = ort.InferenceSession(
            str(folder / GRAPHS[variant]), options, providers=["CPUExecutionProvider"]
        )
        self.name = str(folder)
        self.tokenizer = load_tokenizer(str(folder))
        self.vocab_size = int(meta["vocab_size"])
        self.query_max_length = query_max_length
        self.doc_max_length = doc_max_length
        self.tokens_per_batch = tokens_per_batch
        self.doc_top_k = doc_top_k
        self.stats = EncodeStats()

    def encode_documents(self, texts: Sequence[str], show_progress: bool = False) -> sp.csr_matrix:
        out = self.encode(texts, self.doc_max_length, show_progress)
        return keep_top_k(out, self.doc_top_k) if self.doc_top_k else out

    def encode_queries(self, texts: Sequence[str], show_progress: bool = False) -> sp.csr_matrix:
        return self.encode(texts, self.query_max_length, show_progress)

    def encode(
        self,
        texts: Sequence[str],
        max_length: int,
        show_progress: bool = False,
        desc: str = "encoding (onnx)",
    ) -> sp.csr_matrix:
        out, self.stats = encode_sparse(
            self.tokenizer, texts, max_length, self.tokens_per_batch, self._encode_batch,
            self.vocab_size, show_progress=show_progress, desc=desc,
        )  # fmt: skip
        return out

    def _encode_batch(self, id_lists: list[list[int]], stats: EncodeStats) -> sp.csr_matrix:
        padded = self.tokenizer.pad({"input_ids": id_lists}, return_tensors="np")
        inputs = {
            "input_ids": padded["input_ids"].astype(np.int64),
            "attention_mask": padded["attention_mask"].astype(np.int64),
        }
        stats.tokens += int(inputs["attention_mask"].sum())
        stats.padded_tokens += inputs["attention_mask"].size
        return sp.csr_matrix(self.session.run(None, inputs)[0].astype(np.float32))


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise SpireError(
            "ONNX needs the optional packages: pip install -c constraints.txt '.[onnx]'"
        ) from None
