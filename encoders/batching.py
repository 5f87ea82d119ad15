"""Length-sorted batches bounded by a padded-token budget rather than a text count."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from .tokenize import tokenize_truncated


@dataclass
class EncodeStats:
    """What the last `encode` call did, for the summary a command prints."""

    texts: int = 0
    empty: int = 0  # no tokens besides the special ones: an empty row
    truncated: int = 0  # cut to max_length
    tokens: int = 0  # real (non-padding) tokens through the model
    padded_tokens: int = 0
    candidates: int = 0  # (text, vocab row) pairs re-checked exactly by the pruned head
    nonzeros: int = 0


def token_budget_batches(lengths: Sequence[int], tokens_per_batch: int) -> Iterator[list[int]]:
    """Yield index lists, longest texts first, each batch's padded size within the budget.

    Sorting by length keeps padding small; the budget keeps the B x L x vocab logits
    of a batch of long documents as small as a batch of many short queries.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batch: list[int] = []
    for i in order:
        padded_len = lengths[batch[0]] if batch else lengths[i]
        if batch and (len(batch) + 1) * padded_len > tokens_per_batch:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def encode_sparse(
    tokenizer,
    texts: Sequence[str],
    max_length: int,
    tokens_per_batch: int,
    encode_batch: Callable[[list[list[int]], EncodeStats], sp.csr_matrix],
    vocab_size: int,
    *,
    show_progress: bool = False,
    desc: str = "encoding",
) -> tuple[sp.csr_matrix, EncodeStats]:
    """Tokenise, run `encode_batch` over token-budget batches, and return rows in input order.

    A text with no tokens besides the special ones (e.g. [CLS] [SEP]) encodes to an empty
    row, not to the vector of the special tokens alone.
    """
    stats = EncodeStats(texts=len(texts))
    if not texts:
        return sp.csr_matrix((0, vocab_size), dtype=np.float32), stats
    ids, stats.truncated = tokenize_truncated(tokenizer, texts, max_length)
    keep, batches = _plan(tokenizer, ids, tokens_per_batch)
    stats.empty = len(ids) - len(keep)
    rows: list[sp.csr_matrix] = []
    order: list[int] = []
    bar = tqdm(total=len(keep), desc=desc, unit="text", disable=not show_progress)
    for members in batches:
        rows.append(encode_batch([ids[i] for i in members], stats))
        order.extend(members)
        bar.update(len(members))
    bar.close()
    out = _assemble(rows, order, len(ids), vocab_size)
    stats.nonzeros = int(out.nnz)
    return out, stats


def _plan(tokenizer, ids: list, tokens_per_batch: int) -> tuple[list[int], list[list[int]]]:
    """The texts with tokens besides the special ones, and their batches (text indices)."""
    n_special = tokenizer.num_special_tokens_to_add(pair=False)
    keep = [i for i, seq in enumerate(ids) if len(seq) > n_special]
    lengths = [len(ids[i]) for i in keep]
    return keep, [[keep[j] for j in b] for b in token_budget_batches(lengths, tokens_per_batch)]


def batch_plan(
    tokenizer, texts: Sequence[str], max_length: int, tokens_per_batch: int
) -> tuple[list[list[int]], list[int]]:
    """The batches `encode_sparse` runs over `texts` (lists of text indices, in the order
    it runs them) and the texts it leaves empty. Encoding any union of whole batches,
    in input order, runs exactly those batches again, so its vectors are bit-identical:
    how distributed encoding (indexing/distributed/) splits a corpus."""
    ids, _ = tokenize_truncated(tokenizer, texts, max_length)
    keep, batches = _plan(tokenizer, ids, tokens_per_batch)
    kept = set(keep)
    return batches, [i for i in range(len(texts)) if i not in kept]


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
