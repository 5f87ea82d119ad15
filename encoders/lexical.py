"""The lexical part of an inference-free document vector: each of the document's own
tokens weighted by its saturated term frequency.

An inference-free query is its distinct tokens times IDF, so adding

    weight * tf (k1 + 1) / (tf + k1 (1 - b + b * dl / avgdl))

to a document's learned weights adds `weight * BM25` over word pieces to every score,
at no cost at search time (dl: the document's word pieces). The term counts cover the
whole document, not only the part the transformer reads (its first `doc_max_length`
tokens). `avgdl` is a fixed number of the model (its training corpus's mean length),
not a statistic of the indexed corpus, so a document's vector is the same in any index
or segment. b = 0 (the default) is no length normalisation and needs no avgdl.

A model folder turns it on with `lexical.json`:
`{"weight": 1.0, "k1": 0.9, "b": 0.4, "avgdl": 302.5}`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from spire.errors import SpireError
from spire.files import read_json_object, write_text_atomic

LEXICAL_FILE = "lexical.json"


@dataclass(frozen=True)
class Lexical:
    weight: float = 0.0  # 0: off
    k1: float = 0.9  # BM25's term-frequency saturation (BEIR "flat" value)
    b: float = 0.0  # length normalisation, 0..1 (0: none)
    avgdl: float = 0.0  # the length b normalises against; needed when b > 0

    def __post_init__(self) -> None:
        if not (self.weight >= 0 and np.isfinite(self.weight)):
            raise SpireError(f"lexical weight must be a finite number >= 0, not {self.weight!r}")
        if not (self.k1 > 0 and np.isfinite(self.k1)):
            raise SpireError(f"lexical k1 must be a finite number > 0, not {self.k1!r}")
        if not 0 <= self.b <= 1:
            raise SpireError(f"lexical b must be between 0 and 1, not {self.b!r}")
        if self.b > 0 and not (self.avgdl > 0 and np.isfinite(self.avgdl)):
            raise SpireError(f"lexical b > 0 needs avgdl > 0, not {self.avgdl!r}")

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
    data = read_json_object(path, "an object with 'weight' and 'k1'")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise SpireError(f"{path}: unknown field {unknown[0]!r} (known: {', '.join(FIELDS)})")
    for name, value in data.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise SpireError(f"{path}: field {name!r} must be a number, not {value!r}")
    try:
        return Lexical(**{k: float(v) for k, v in data.items()})
    except SpireError as exc:
        raise SpireError(f"{path}: {exc}") from None


FIELDS = ("avgdl", "b", "k1", "weight")


def save_lexical(lexical: Lexical, folder: str | Path) -> None:
    write_text_atomic(Path(folder) / LEXICAL_FILE, json.dumps(lexical.to_dict()))


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
    """weight * tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl)) for each word piece of each
    document."""
    counts = term_counts(tokenizer, texts)
    tf = counts.data
    saturation = np.full(len(tf), lexical.k1, dtype=np.float64)
    if lexical.b > 0:
        lengths = np.asarray(counts.sum(axis=1)).ravel()
        per_row = np.repeat(lengths, np.diff(counts.indptr))
        saturation *= 1 - lexical.b + lexical.b * per_row / lexical.avgdl
    counts.data = (lexical.weight * tf * (lexical.k1 + 1) / (tf + saturation)).astype(np.float32)
    return counts


def mean_length(tokenizer, texts: Sequence[str]) -> float:
    """The mean number of word pieces of `texts` (what avgdl is)."""
    if not texts:
        return 0.0
    return float(term_counts(tokenizer, texts).sum()) / len(texts)


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
