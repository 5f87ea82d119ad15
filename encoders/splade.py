"""SPLADE: MLM logits -> max over non-padding tokens -> log(1 + ReLU), as a csr matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from .batching import token_budget_batches


class SpladeEncoder:
    """Siamese SPLADE: the same masked LM encodes queries and documents."""

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
    ) -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.query_max_length = query_max_length
        self.doc_max_length = doc_max_length
        self.tokens_per_batch = tokens_per_batch
        self.vocab_size = int(model.config.vocab_size)

    def encode_documents(self, texts: Sequence[str], show_progress: bool = False) -> sp.csr_matrix:
        return self.encode(texts, self.doc_max_length, show_progress, "encoding documents")

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
        if not texts:
            return sp.csr_matrix((0, self.vocab_size), dtype=np.float32)
        ids = self.tokenizer(
            list(texts), add_special_tokens=True, truncation=True, max_length=max_length
        )["input_ids"]
        # A text with no tokens besides [CLS] [SEP] encodes to nothing, not to the
        # vector of the special tokens alone.
        n_special = self.tokenizer.num_special_tokens_to_add(pair=False)
        keep = [i for i, seq in enumerate(ids) if len(seq) > n_special]
        rows: list[sp.csr_matrix] = []
        order: list[int] = []
        bar = tqdm(total=len(keep), desc=desc, unit="text", disable=not show_progress)
        for batch in token_budget_batches([len(ids[i]) for i in keep], self.tokens_per_batch):
            members = [keep[j] for j in batch]
            rows.append(self._encode_batch([ids[i] for i in members]))
            order.extend(members)
            bar.update(len(members))
        bar.close()
        return _assemble(rows, order, len(ids), self.vocab_size)

    @torch.inference_mode()
    def _encode_batch(self, id_lists: list[list[int]]) -> sp.csr_matrix:
        padded = self.tokenizer.pad({"input_ids": id_lists}, return_tensors="pt")
        mask = padded["attention_mask"].bool()
        logits = self.model(
            input_ids=padded["input_ids"], attention_mask=padded["attention_mask"]
        ).logits
        # log1p(relu(max)) equals max(log1p(relu)) (monotone) and costs B x V, not B x L x V.
        logits.masked_fill_(~mask.unsqueeze(-1), float("-inf"))
        weights = torch.log1p(torch.relu(logits.amax(dim=1)))
        return sp.csr_matrix(weights.numpy().astype(np.float32, copy=False))


def _assemble(rows: list[sp.csr_matrix], order: list[int], n: int, vocab: int) -> sp.csr_matrix:
    """Stack batch results and put rows back in input order; missing rows are empty."""
    if not rows:
        return sp.csr_matrix((n, vocab), dtype=np.float32)
    stacked = sp.vstack(rows, format="csr")
    position = np.full(n, -1, dtype=np.int64)
    position[np.asarray(order)] = np.arange(len(order))
    lengths = np.zeros(n, dtype=np.int64)
    present = position >= 0
    lengths[present] = np.diff(stacked.indptr)[position[present]]
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    perm = stacked[position[present]]
    out = sp.csr_matrix((perm.data, perm.indices, indptr), shape=(n, vocab), dtype=np.float32)
    out.sort_indices()
    return out
