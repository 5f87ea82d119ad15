"""Text for pruning and perplexity, from any corpus spire reads (eval.data.datasets' formats).

Held-out text is fixed by document id: a document belongs to the held-out slice when
crc32 of its article id (the id up to its last '-', as in wiki-paragraphs'
`<article>-<n>`; else the whole id) is 0 modulo 100. Calibration never draws such a
document, and perplexity reads only them, so the two never overlap on any corpus.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import numpy as np

from spire.core.errors import SpireError

from .datasets import ID_FIELDS, TEXT_FIELDS, load_corpus
from .jsonl import field, read_jsonl

HELDOUT_BUCKETS = 100
CALIB_POOL = 20_000  # calibration samples from the first this many documents (not held out)


def is_heldout(doc_id: str) -> bool:
    match = re.fullmatch(r"(.+)-\d+", doc_id)
    article = match.group(1) if match else doc_id
    return zlib.crc32(article.encode()) % HELDOUT_BUCKETS == 0


def iter_documents(spec: str | Path) -> Iterator[tuple[str, str]]:
    """(id, title + " " + text) in file order, streamed from a BEIR folder or jsonl(.gz);
    an ir_datasets id is loaded whole."""
    path = Path(spec).expanduser()
    if path.is_dir():
        found = [p for p in (path / "corpus.jsonl", path / "corpus.jsonl.gz") if p.is_file()]
        if not found:
            raise SpireError(f"{path / 'corpus.jsonl'}: no such file")
        path = found[0]
    if not path.exists():
        corpus = load_corpus(str(spec))
        yield from zip(corpus.ids, corpus.texts, strict=True)
        return
    for lineno, record in read_jsonl(path):
        doc_id = field(record, ID_FIELDS, path, lineno)
        title = field(record, ("title",), path, lineno, required=False)
        body = field(record, TEXT_FIELDS, path, lineno, required=False)
        yield doc_id, f"{title} {body}".strip()


def token_stream(tokenizer, texts, separator: int | None, limit: int) -> list[int]:
    """The texts' tokens (no special tokens), `separator` between them, up to `limit`."""
    ids: list[int] = []
    for text in texts:
        if not text:
            continue
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        if separator is not None:
            ids.append(separator)
        if len(ids) >= limit:
            break
    return ids[:limit]


def calibration_batches(
    tokenizer,
    data: str | Path,
    samples: int,
    seq_len: int,
    seed: int,
    causal: bool,
    batch_size: int = 8,
) -> list[dict]:
    """`samples` windows of `seq_len` tokens from the corpus `data`: its first CALIB_POOL
    documents that are not held out, shuffled with `seed`, joined and cut. Encoder windows
    are [CLS] + seq_len - 2 tokens + [SEP]; a causal LM's carry labels (its loss, for GBLM)."""
    docs = [t for i, t in islice(iter_documents(data), CALIB_POOL) if not is_heldout(i)]
    order = np.random.default_rng(seed).permutation(len(docs))
    return _window_batches(
        tokenizer, (docs[i] for i in order), samples, seq_len, causal, batch_size,
        f"{data}: calibration data",
    )  # fmt: skip


def heldout_batches(
    tokenizer, data: str | Path, samples: int, seq_len: int, causal: bool, batch_size: int = 8
) -> list[dict]:
    """Windows cut as `calibration_batches` cuts them, from the held-out documents of
    `data` in file order: text calibration never reads (to choose recovery settings)."""
    texts = (t for i, t in iter_documents(data) if is_heldout(i))
    return _window_batches(
        tokenizer, texts, samples, seq_len, causal, batch_size, f"{data}: its held-out documents"
    )


def _window_batches(tokenizer, texts, samples, seq_len, causal, batch_size, what) -> list[dict]:
    import torch

    body = seq_len if causal else seq_len - 2
    sep = tokenizer.eos_token_id if causal else tokenizer.sep_token_id
    ids = token_stream(tokenizer, texts, sep, samples * body)
    if len(ids) < body:
        raise SpireError(f"{what} has {len(ids)} tokens, fewer than one sample of {body}")
    n = len(ids) // body
    windows = torch.tensor(ids[: n * body]).reshape(n, body)
    if not causal:
        cls = torch.full((n, 1), tokenizer.cls_token_id)
        windows = torch.cat([cls, windows, torch.full((n, 1), tokenizer.sep_token_id)], 1)
    batches = []
    for start in range(0, n, batch_size):
        chunk = windows[start : start + batch_size]
        batch = {"input_ids": chunk, "attention_mask": torch.ones_like(chunk)}
        if causal:
            batch["labels"] = chunk
        batches.append(batch)
    return batches


def heldout_windows(tokenizer, data: str | Path, samples: int, seq_len: int):
    """Up to `samples` windows of `seq_len` tokens of the held-out documents of `data`, in
    file order, EOS between documents (a tensor, windows x seq_len)."""
    import torch

    texts = (t for i, t in iter_documents(data) if is_heldout(i))
    ids = token_stream(tokenizer, texts, tokenizer.eos_token_id, samples * seq_len)
    if len(ids) < seq_len:
        raise SpireError(
            f"{data}: its held-out documents have {len(ids)} tokens, fewer than one window "
            f"of {seq_len}"
        )
    n = len(ids) // seq_len
    return torch.tensor(ids[: n * seq_len]).reshape(n, seq_len)


def perplexity(model, windows, batch_size: int = 4) -> dict:
    """exp(mean next-token loss) over every predicted token of the windows."""
    import torch

    total = 0.0
    count = 0
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            chunk = windows[start : start + batch_size]
            loss = model(input_ids=chunk, labels=chunk).loss
            tokens = chunk.shape[0] * (chunk.shape[1] - 1)
            total += float(loss) * tokens
            count += tokens
    return {"perplexity": float(np.exp(total / count)), "tokens": count, "windows": len(windows)}
