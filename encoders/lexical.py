"""The lexical part of an inference-free document vector: each of the document's own
tokens weighted by its saturated term frequency.

An inference-free query is its distinct tokens times IDF, so adding
`weight * tf (k1 + 1) / (tf + k1)` to a document's learned weights adds
`weight * BM25` (over word pieces, no length normalisation) to every score, at no
cost at search time. The term counts cover the whole document, not only the part the
transformer reads (its first `doc_max_length` tokens), and depend on no corpus
statistics, so a document's vector is the same in any index or segment.

A model folder turns it on with `lexical.json`: `{"weight": 1.0, "k1": 0.9}`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from spire.errors import SpireError

LEXICAL_FILE = "lexical.json"


@dataclass(frozen=True)
class Lexical:
    weight: float = 0.0  # 0: off
    k1: float = 0.9  # BM25's term-frequency saturation (BEIR "flat" value)

    def __post_init__(self) -> None:
        if not (self.weight >= 0 and np.isfinite(self.weight)):
            raise SpireError(f"lexical weight must be a finite number >= 0, not {self.weight!r}")
        if not (self.k1 > 0 and np.isfinite(self.k1)):
            raise SpireError(f"lexical k1 must be a finite number > 0, not {self.k1!r}")

    @property
    def enabled(self) -> bool:
        return self.weight > 0

    def to_dict(self) -> dict:
        return asdict(self)


def load_lexical(folder: str | Path) -> Lexical:
    """The folder's lexical.json, or Lexical() (off) when it has none."""
    path = Path(folder) / LEXICAL_FILE
    if not path.is_file():
        return Lexical()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpireError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SpireError(f"{path}: expected an object with 'weight' and 'k1'")
    unknown = sorted(set(data) - {"weight", "k1"})
    if unknown:
        raise SpireError(f"{path}: unknown field {unknown[0]!r} (known: k1, weight)")
    for name, value in data.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise SpireError(f"{path}: field {name!r} must be a number, not {value!r}")
    try:
        return Lexical(**{k: float(v) for k, v in data.items()})
    except SpireError as exc:
        raise SpireError(f"{path}: {exc}") from None


def save_lexical(lexical: Lexical, folder: str | Path) -> None:
    (Path(folder) / LEXICAL_FILE).write_text(json.dumps(lexical.to_dict()), encoding="utf-8")


def term_counts(tokenizer, texts: Sequence[str], chunk: int = 1024) -> sp.csr_matrix:
    """(n, vocab) counts of each document's word pieces: whole text, no special tokens."""
    rows: list[sp.csr_matrix] = []
    vocab = len(tokenizer)
    for start in range(0, len(texts), chunk):
        ids = tokenizer(
            list(texts[start : start + chunk]), add_special_tokens=False, verbose=False
        )["input_ids"]
        lengths = np.fromiter((len(s) for s in ids), dtype=np.int64, count=len(ids))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        cols = np.fromiter((t for s in ids for t in s), dtype=np.int64, count=int(indptr[-1]))
        data = np.ones(len(cols), dtype=np.float32)
        counts = sp.csr_matrix((data, cols, indptr), shape=(len(ids), vocab))
        counts.sum_duplicates()  # csr from (data, indices, indptr) adds repeats on request
        rows.append(counts)
    if not rows:
        return sp.csr_matrix((0, vocab), dtype=np.float32)
    return sp.vstack(rows, format="csr")


def lexical_weights(tokenizer, texts: Sequence[str], lexical: Lexical) -> sp.csr_matrix:
    """weight * tf (k1 + 1) / (tf + k1) for each word piece of each document."""
    counts = term_counts(tokenizer, texts)
    tf = counts.data
    counts.data = (lexical.weight * tf * (lexical.k1 + 1) / (tf + lexical.k1)).astype(np.float32)
    return counts


def with_lexical(
    docs: sp.csr_matrix, tokenizer, texts: Sequence[str], lexical: Lexical
) -> sp.csr_matrix:
    """Learned document vectors plus their lexical part (as they are when it is off)."""
    if not lexical.enabled:
        return docs
    lex = lexical_weights(tokenizer, texts, lexical)
    if lex.shape[1] < docs.shape[1]:  # a model whose vocabulary is padded past the tokenizer's
        lex.resize(docs.shape)
    out = (docs + lex).tocsr().astype(np.float32)
    out.sort_indices()
    return out
