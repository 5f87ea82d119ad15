"""SPLADE: MLM logits -> max over non-padding tokens -> log(1 + ReLU), as a csr matrix."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from spire.core.choices import HEADS
from spire.core.choices import TORCH_PRECISIONS as PRECISIONS  # ONNX: fp32 or int8
from spire.core.errors import SpireError

from . import sparse_head
from .batching import EncodeStats, encode_sparse

log = logging.getLogger(__name__)


class SpladeEncoder:
    """Siamese SPLADE: the same masked LM encodes queries and documents.

    `head` picks how the vocabulary projection is max-pooled (all but "reference" avoid
    materialising batch x length x vocab logits; see encoders/sparse_head.py):
    "pruned" (bf16 bound + exact fp32 re-check, equal to the reference within fp32
    rounding), "chunked" (exact fp32, slice by slice), "reference" (the model's full
    logits) or "auto" (pruned where the CPU has native bf16, else chunked).
    `precision="bf16"` also runs the transformer layers in bf16: faster, not exact.
    `doc_top_k` keeps each document's k heaviest terms (queries are never cut).
    """

    mode = "siamese"

    def __init__(
        self,
        name: str,
        model,
        tokenizer,
        *,
        query_max_length: int = 64,
        doc_max_length: int = 256,
        tokens_per_batch: int = 8192,
        head: str = "auto",
        precision: str = "fp32",
        doc_top_k: int | None = None,
    ) -> None:
        if head not in HEADS:
            raise SpireError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
        if precision not in PRECISIONS:
            raise SpireError(f"unknown precision {precision!r}; choose fp32 or bf16")
        if doc_top_k is not None and doc_top_k < 1:
            raise SpireError(f"doc_top_k must be >= 1, got {doc_top_k}")
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.query_max_length = query_max_length
        self.doc_max_length = doc_max_length
        self.tokens_per_batch = tokens_per_batch
        self.vocab_size = int(model.config.vocab_size)
        self.precision = precision
        self.doc_top_k = doc_top_k
        self.head, self._mlm_head, self._hidden_model = self._choose_head(head)
        self.stats = EncodeStats()

    def _choose_head(self, head: str):
        if head == "reference":
            return "reference", None, None
        split = sparse_head.verified_split(self.model, self.tokenizer)
        if split is None:
            if head != "auto":
                raise SpireError(
                    f"model {self.name!r} ({type(self.model).__name__}): its MLM head cannot "
                    f"be split from the layers before it; use head='reference'"
                )
            log.info("%s: MLM head layout not recognised; using the full logits", self.name)
            return "reference", None, None
        if head == "auto":
            head = "pruned" if sparse_head.cpu_has_fast_bf16() else "chunked"
        return (head, *split)

    def encode_documents(self, texts: Sequence[str], show_progress: bool = False) -> sp.csr_matrix:
        out = self.encode(texts, self.doc_max_length, show_progress, "encoding documents")
        return keep_top_k(out, self.doc_top_k) if self.doc_top_k else out

    def encode_queries(self, texts: Sequence[str], show_progress: bool = False) -> sp.csr_matrix:
        return self.encode(texts, self.query_max_length, show_progress, "encoding queries")

    def encode(
        self,
        texts: Sequence[str],
        max_length: int,
        show_progress: bool = False,
        desc: str = "encoding",
    ) -> sp.csr_matrix:
        """Encode texts into an (n, vocab) float32 csr matrix; blank texts give empty rows."""
        out, self.stats = encode_sparse(
            self.tokenizer, texts, max_length, self.tokens_per_batch, self._encode_batch,
            self.vocab_size, show_progress=show_progress, desc=desc,
        )  # fmt: skip
        return out

    @torch.inference_mode()
    def _encode_batch(self, id_lists: list[list[int]], stats: EncodeStats) -> sp.csr_matrix:
        padded = self.tokenizer.pad({"input_ids": id_lists}, return_tensors="pt")
        mask = padded["attention_mask"].bool()
        stats.tokens += int(mask.sum())
        stats.padded_tokens += mask.numel()
        inputs = {"input_ids": padded["input_ids"], "attention_mask": padded["attention_mask"]}
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            if self.head == "reference":
                return self._reference_batch(inputs, mask)
            hidden = self._hidden_model(**inputs).logits.float()
        hidden = sparse_head.pad_with_first_token(hidden, mask)
        if self.head == "chunked":
            logits = sparse_head.max_logits_chunked(hidden, self._mlm_head)
            return sp.csr_matrix(torch.log1p(torch.relu(logits)).numpy())
        rows, cols, values, candidates = sparse_head.positive_max_logits(hidden, self._mlm_head)
        stats.candidates += candidates
        shape = (len(id_lists), self.vocab_size)
        data = torch.log1p(values).numpy().astype(np.float32, copy=False)
        return sp.csr_matrix((data, (rows.numpy(), cols.numpy())), shape=shape)

    def _reference_batch(self, inputs: dict, mask: torch.Tensor) -> sp.csr_matrix:
        logits = self.model(**inputs).logits.float()
        # log1p(relu(max)) equals max(log1p(relu)) (monotone) and costs B x V, not B x L x V.
        logits.masked_fill_(~mask.unsqueeze(-1), float("-inf"))
        weights = torch.log1p(torch.relu(logits.amax(dim=1)))
        return sp.csr_matrix(weights.numpy().astype(np.float32, copy=False))


def keep_top_k(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Each row's k largest entries (ties broken by lower column id)."""
    matrix = matrix.tocsr()
    lengths = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), lengths)
    # Sort by row, then by weight descending: the first k of each row survive.
    order = np.lexsort((matrix.indices, -matrix.data, rows))
    rank = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], lengths)
    kept = order[rank < k]
    out = sp.csr_matrix((matrix.data[kept], (rows[kept], matrix.indices[kept])), shape=matrix.shape)
    out.sort_indices()
    return out
