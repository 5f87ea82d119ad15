"""IDF tables for inference-free query encoding: document frequencies over a corpus (BM25's
IDF of them: encoders/bm25.py), or an OpenSearch idf.json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from spire.core.errors import SpireError
from spire.core.files import read_json_object, write_text_atomic

from .tokenize import cut_for_tokens


def document_frequencies(
    tokenizer, texts: Sequence[str], max_length: int, chunk: int = 1024
) -> np.ndarray:
    """df of each vocabulary id over the documents as the encoder sees them (truncated)."""
    df = np.zeros(len(tokenizer), dtype=np.int64)
    for start in range(0, len(texts), chunk):
        ids = tokenizer(
            cut_for_tokens(texts[start : start + chunk], max_length),
            add_special_tokens=True,
            truncation=True,
            max_length=max_length,
        )["input_ids"]
        for seq in ids:
            df[np.unique(np.asarray(seq, dtype=np.int64))] += 1
    return df


def load_idf_json(path: str | Path, tokenizer) -> np.ndarray:
    """Read an OpenSearch-style idf.json ({token: weight}); tokens absent from it weigh 0."""
    path = Path(path)
    table = read_json_object(path, "an object of token -> weight")
    vocab = tokenizer.get_vocab()
    idf = np.zeros(len(tokenizer), dtype=np.float32)
    for token, weight in table.items():
        if not isinstance(weight, int | float):
            raise SpireError(f"{path}: weight of token {token!r} is not a number")
        if token in vocab:
            idf[vocab[token]] = float(weight)
    return idf


def save_idf_json(idf: np.ndarray, tokenizer, path: str | Path) -> None:
    inverse = {i: t for t, i in tokenizer.get_vocab().items()}
    table = {inverse[i]: round(float(w), 6) for i, w in enumerate(idf) if w > 0 and i in inverse}
    write_text_atomic(path, json.dumps(table, ensure_ascii=False))
