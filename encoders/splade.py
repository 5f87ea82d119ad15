"""SPLADE: MLM logits -> max over non-padding tokens -> log(1 + ReLU).

`SpladeForward` is the one SPLADE pass: inference (`SpladeEncoder`, csr matrices under
inference_mode) and training (training/models.py, dense tensors with gradients) both
run it, so the function a model is trained on is the function it is indexed with.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from spire.core.choices import HEADS
from spire.core.choices import TORCH_PRECISIONS as PRECISIONS  # ONNX: fp32 or int8
from spire.core.errors import SpireError

from . import sparse_head
from .batching import EncodeStats, encode_sparse
from .sides import ModelQueries

log = logging.getLogger(__name__)


class SpladeForward(nn.Module):
    """Padded token ids -> (n, vocab) SPLADE weights.

    `head` picks how the vocabulary projection is max-pooled (all but "reference" avoid
    materialising batch x length x vocab logits; see encoders/sparse_head.py):
    "pruned" (bf16 bound + exact fp32 re-check, equal to the reference within fp32
    rounding, differentiable), "chunked" (exact fp32, slice by slice, inference only),
    "reference" (the model's full logits) or "auto" (pruned where the CPU has native
    bf16 or gradients are wanted, else chunked; the reference where the head cannot be
    split). `frozen` (inference) keeps the split head's tensors from the start; otherwise
    they are rebuilt from the live weights each call, so gradients reach them.
    `precision="bf16"` runs the transformer layers in bf16: faster, not exact.
    """

    def __init__(
        self,
        mlm,
        tokenizer,
        head: str = "auto",
        *,
        frozen: bool = False,
        precision: str = "fp32",
        name: str = "",
    ) -> None:
        super().__init__()
        if head not in HEADS:
            raise SpireError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
        if precision not in PRECISIONS:
            raise SpireError(f"unknown precision {precision!r}; choose fp32 or bf16")
        self.mlm = mlm
        self.tokenizer = tokenizer
        self.frozen = frozen
        self.precision = precision
        self.head, split = self._choose_head(head, name or type(mlm).__name__)
        self._frozen_head = split[0] if split and frozen else None
        # Not a submodule: its parameters are the mlm's own, and must not be saved twice.
        self._hidden_twin = (self.device, split[1]) if split else None

    def _choose_head(self, head: str, name: str):
        if head == "reference":
            return "reference", None
        split = sparse_head.verified_split(self.mlm, self.tokenizer)
        if split is None:
            if head != "auto":
                raise SpireError(
                    f"model {name!r} ({type(self.mlm).__name__}): its MLM head cannot "
                    f"be split from the layers before it; use head='reference'"
                )
            log.info("%s: MLM head layout not recognised; using the full logits", name)
            return "reference", None
        if head == "auto":
            fast = not self.frozen or sparse_head.cpu_has_fast_bf16()
            head = "pruned" if fast else "chunked"
        return head, split

    @property
    def vocab_size(self) -> int:
        return int(self.mlm.config.vocab_size)

    @property
    def device(self) -> torch.device:
        return next(self.mlm.parameters()).device

    @property
    def pruned_head(self) -> bool:
        return self.head == "pruned"

    def forward(self, texts: list[str], max_length: int) -> Tensor:
        batch = self.tokenizer(
            list(texts),
            add_special_tokens=True,
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        return self.encode_ids(batch["input_ids"], batch["attention_mask"])

    def encode_ids(self, ids: Tensor, mask: Tensor) -> Tensor:
        """(n, vocab) weights, dense, from padded token ids and their attention mask."""
        ids, mask = ids.to(self.device), mask.to(self.device)
        if self.head == "reference":
            return self._reference(ids, mask)
        head = self._head()
        hidden = self._hidden(ids, mask, head)
        if self.head == "chunked":
            return torch.log1p(torch.relu(sparse_head.max_logits_chunked(hidden, head)))
        rows, cols, values = self._pruned_max(hidden, head)
        logits = hidden.new_zeros(ids.shape[0], self.vocab_size).index_put((rows, cols), values)
        return torch.log1p(torch.relu(logits))

    def encode_ids_sparse(self, ids: Tensor, mask: Tensor) -> tuple[sp.csr_matrix, int]:
        """`encode_ids` as a float32 csr matrix, and how many (row, term) pairs the pruned
        head re-checked exactly (0 for the others); the pruned head never densifies."""
        if self.head != "pruned":
            weights = self.encode_ids(ids, mask)
            return sp.csr_matrix(weights.numpy().astype(np.float32, copy=False)), 0
        head = self._head()
        rows, cols, values = self._pruned_max(self._hidden(ids, mask, head), head)
        positive = values > 0
        rows, cols, values = rows[positive], cols[positive], values[positive]
        data = torch.log1p(values).numpy().astype(np.float32, copy=False)
        shape = (ids.shape[0], self.vocab_size)
        candidates = int(positive.numel())
        return sp.csr_matrix((data, (rows.numpy(), cols.numpy())), shape=shape), candidates

    def _autocast(self):
        if self.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast("cpu", dtype=torch.bfloat16)

    def _reference(self, ids: Tensor, mask: Tensor) -> Tensor:
        with self._autocast():
            logits = self.mlm(input_ids=ids, attention_mask=mask).logits.float()
        # Padding positions must never win the max; log1p(relu) after the max equals the
        # max after it (monotone) and costs B x V, not B x L x V.
        padding = ~mask.bool().unsqueeze(-1)
        if logits.requires_grad:
            logits = logits.masked_fill(padding, float("-inf"))
        else:
            logits.masked_fill_(padding, float("-inf"))
        return torch.log1p(torch.relu(logits.amax(dim=1)))

    def _hidden(self, ids: Tensor, mask: Tensor, head: sparse_head.MlmHead) -> Tensor:
        """The decoder's input, B x L x hidden, padding replaced by each row's first token."""
        twin = self._twin(head)
        twin.train(self.mlm.training)  # dropout as in the mlm itself
        with self._autocast():
            hidden = twin(input_ids=ids, attention_mask=mask).logits.float()
        return sparse_head.pad_with_first_token(hidden, mask.bool())

    def _pruned_max(self, hidden: Tensor, head: sparse_head.MlmHead) -> tuple[Tensor, ...]:
        """(row, column, max logit) for every pair the bf16 bound cannot rule out."""
        rows, cols = sparse_head.candidate_pairs(hidden, head)
        return rows, cols, sparse_head.exact_max(hidden, head, rows, cols)

    def _head(self) -> sparse_head.MlmHead:
        if self._frozen_head is not None:
            return self._frozen_head
        return sparse_head.split_head(self.mlm, detach=False)  # live weights, fresh bounds

    def _twin(self, head: sparse_head.MlmHead) -> nn.Module:
        # Rebuilt after a device move: .to() replaces buffers, which the twin would miss.
        if self._hidden_twin is None or self._hidden_twin[0] != self.device:
            self._hidden_twin = (self.device, sparse_head.without_decoder(self.mlm, head))
        return self._hidden_twin[1]


class SpladeEncoder(ModelQueries):
    """Siamese SPLADE: the same masked LM encodes queries and documents, through
    `SpladeForward` (`head` and `precision` as there). `doc_top_k` keeps each document's
    k heaviest terms (queries are never cut)."""

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
        if doc_top_k is not None and doc_top_k < 1:
            raise SpireError(f"doc_top_k must be >= 1, got {doc_top_k}")
        self.splade_forward = SpladeForward(
            model, tokenizer, head, frozen=True, precision=precision, name=name
        )
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.query_max_length = query_max_length
        self.doc_max_length = doc_max_length
        self.tokens_per_batch = tokens_per_batch
        self.vocab_size = int(model.config.vocab_size)
        self.precision = precision
        self.doc_top_k = doc_top_k
        self.head = self.splade_forward.head
        self.stats = EncodeStats()

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
        mask = padded["attention_mask"]
        stats.tokens += int(mask.sum())
        stats.padded_tokens += mask.numel()
        out, candidates = self.splade_forward.encode_ids_sparse(padded["input_ids"], mask)
        stats.candidates += candidates
        return out


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
