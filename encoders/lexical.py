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

With `stem_class_max` n >= 2, tf counts a word's Snowball (English) stem class: the
vocabulary's whole-word pieces with the same stem ("extend", "extended", "extending",
"extends"), so a query for "extends" matches a document that says "extended", as Lucene's
stemmed BM25 would; every member of the class gets the class's weight. Classes of more
than n pieces are left apart: Snowball merges derivations there ("measure",
"measurement"; "generate", "generator"), and they hold most of the extra postings.

A model folder turns it on with `lexical.json`:
`{"weight": 1.0, "k1": 0.9, "b": 0.4, "avgdl": 302.5, "stem_class_max": 4}`.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from spire.core.errors import SpireError
from spire.core.files import read_json_object, write_text_atomic

from .bm25 import term_weights

LEXICAL_FILE = "lexical.json"


@dataclass(frozen=True)
class Lexical:
    weight: float = 0.0  # 0: off
    k1: float = 0.9  # BM25's term-frequency saturation (BEIR "flat" value)
    b: float = 0.0  # length normalisation, 0..1 (0: none)
    avgdl: float = 0.0  # the length b normalises against; needed when b > 0
    stem_class_max: int = 0  # 0: no stemming; n: Snowball stem classes of at most n pieces

    def __post_init__(self) -> None:
        if not (self.weight >= 0 and np.isfinite(self.weight)):
            raise SpireError(f"lexical weight must be a finite number >= 0, not {self.weight!r}")
        if not (self.k1 > 0 and np.isfinite(self.k1)):
            raise SpireError(f"lexical k1 must be a finite number > 0, not {self.k1!r}")
        if not 0 <= self.b <= 1:
            raise SpireError(f"lexical b must be between 0 and 1, not {self.b!r}")
        if self.b > 0 and not (self.avgdl > 0 and np.isfinite(self.avgdl)):
            raise SpireError(f"lexical b > 0 needs avgdl > 0, not {self.avgdl!r}")
        n = self.stem_class_max
        if not (np.isfinite(n) and n >= 0 and n == int(n)):
            raise SpireError(
                f"lexical stem_class_max must be a whole number >= 0, not {self.stem_class_max!r}"
            )
        object.__setattr__(self, "stem_class_max", int(self.stem_class_max))

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


FIELDS = ("avgdl", "b", "k1", "stem_class_max", "weight")


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
    document (BM25's term weight, encoders/bm25.py, with `weight` in place of the IDF)."""
    counts = term_counts(tokenizer, texts)
    lengths = np.asarray(counts.sum(axis=1)).ravel()  # in word pieces, before the classes
    if lexical.stem_class_max:
        counts = (counts @ stem_classes(tokenizer, lexical.stem_class_max)).tocsr()
    return term_weights(counts, lengths, lexical.k1, lexical.b, lexical.avgdl, lexical.weight)


_CLASSES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def stem_classes(tokenizer, class_max: int) -> sp.csr_matrix:
    """(vocab, vocab) 0/1: entry (s, t) is 1 when word pieces s and t share a Snowball
    English stem in a class of at most `class_max` pieces, or s == t. Counts times it are
    each piece's class counts. Cached per tokenizer: training calls this every step."""
    try:
        cached = _CLASSES.setdefault(tokenizer, {})
    except TypeError:  # a tokenizer object that takes no weak references: no cache
        cached = {}
    if class_max not in cached:
        cached[class_max] = _stem_class_matrix(tokenizer.get_vocab(), len(tokenizer), class_max)
    return cached[class_max]


def _stem_class_matrix(vocab: dict[str, int], size: int, class_max: int) -> sp.csr_matrix:
    import snowballstemmer

    stem = snowballstemmer.stemmer("english").stemWord
    classes: dict[str, list[int]] = {}
    for token, index in vocab.items():
        if token.isascii() and token.isalpha() and index < size:  # whole words, no "##"
            classes.setdefault(stem(token.lower()), []).append(index)
    rows: list[int] = []
    cols: list[int] = []
    grouped = np.zeros(size, dtype=bool)
    for members in classes.values():
        if 1 < len(members) <= class_max:
            rows += [a for a in members for _ in members]
            cols += members * len(members)
            grouped[members] = True
    alone = np.flatnonzero(~grouped).tolist()
    rows += alone
    cols += alone
    ones = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((ones, (rows, cols)), shape=(size, size))


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
