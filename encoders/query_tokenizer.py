"""A model's tokenizer without transformers or torch, for the inference-free query side.

An inference-free query is its tokens times IDF: it needs the tokenizer, not the model.
Yet importing transformers' tokenizers imports torch (about 3 s of a one-query `spire
search`). So the first load of a model folder's tokenizer, through transformers, also
writes transformers' own `tokenizers` backend (normaliser, pre-tokenizer, vocabulary,
post-processor, as transformers configured them) to $SPIRE_HOME/tokenizers/, keyed by
the folder's tokenizer files and both libraries' versions; later loads read that file
with the `tokenizers` library alone. `spire index` makes the first load, so searches
of its index never import torch.

A hub id (not a local folder) or a tokenizer without a fast backend keeps transformers'
tokenizer.

Queries are short and their words repeat, so `BackendTokenizer.query_ids` answers a BERT
WordPiece pipeline's plain-ASCII query in Python: the normaliser and pre-tokenizer reduce
to lowercasing and splitting off words and punctuation marks, and each word's pieces are
cached. Anything else (non-ASCII, control characters, an added token such as "[MASK]" in
the text, another pipeline) goes through the `tokenizers` backend, so the ids are
always the backend's own (tests/encoders/test_query_tokenizer.py compares them).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from importlib.metadata import version
from pathlib import Path

import numpy as np

from spire.core.files import write_text_atomic

from .registry import resolve, spire_home

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
)


# A BERT pipeline's view of plain ASCII: lowercase, then words of letters and digits and
# single punctuation marks (every printable ASCII character that is neither is one).
ASCII_PIECES = re.compile(r"[a-z0-9]+|[!-/:-@\[-`{-~]")
ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # removed by clean_text
WORD_CACHE_MAX = 200_000  # words; the cache starts over beyond this


class BackendTokenizer:
    """The calls spire's inference-free encoder makes of a transformers fast tokenizer,
    answered by the same `tokenizers` backend: token ids (truncated with special tokens
    counted, as transformers does), word ids, the vocabulary and its size."""

    def __init__(self, backend, size: int) -> None:
        self.backend = backend
        self.size = size
        self._lock = threading.Lock()  # truncation is a setting of the shared backend
        self._words: dict[str, list[int]] = {}
        self._added = [t.content for t in backend.get_added_tokens_decoder().values()]
        self._fast = _plain_bert_wordpiece(backend)

    def query_ids(self, texts: list[str], max_length: int) -> list[list[int]]:
        """Each text's token ids without special tokens, cut to `max_length`: what
        `self(texts, add_special_tokens=False, truncation=True, max_length=...)` gives."""
        out: list[list[int] | None] = [None] * len(texts)
        slow: list[int] = []
        for i, text in enumerate(texts):
            ids = self._ascii_ids(text) if self._fast else None
            if ids is None:
                slow.append(i)
            else:
                out[i] = ids[:max_length]
        if slow:
            encoded = self([texts[i] for i in slow], add_special_tokens=False, truncation=True,
                           max_length=max_length)["input_ids"]  # fmt: skip
            for i, ids in zip(slow, encoded, strict=True):
                out[i] = ids
        return out  # type: ignore[return-value]

    def _ascii_ids(self, text: str) -> list[int] | None:
        """The ids of a plain-ASCII text, or None where only the backend can tell."""
        if not text.isascii() or ASCII_CONTROL.search(text) or any(a in text for a in self._added):
            return None
        words = self._words
        ids: list[int] = []
        for word in ASCII_PIECES.findall(text.lower()):
            pieces = words.get(word)
            if pieces is None:
                if len(words) >= WORD_CACHE_MAX:
                    words.clear()
                pieces = words[word] = [t.id for t in self.backend.model.tokenize(word)]
            ids += pieces
        return ids

    def __len__(self) -> int:
        return self.size

    def get_vocab(self) -> dict[str, int]:
        return self.backend.get_vocab(with_added_tokens=True)

    def convert_ids_to_tokens(self, ids) -> str | list[str]:
        # transformers answers one id with one token, a sequence with a list
        if isinstance(ids, int | np.integer):
            return self.backend.id_to_token(int(ids))
        return [self.backend.id_to_token(int(i)) for i in ids]

    def __call__(
        self,
        text: str | list[str],
        add_special_tokens: bool = True,
        truncation: bool = False,
        max_length: int | None = None,
        verbose: bool = True,  # transformers' warning switch; nothing to warn about here
    ) -> Encoded:
        texts = [text] if isinstance(text, str) else list(text)
        with self._lock:
            if truncation and max_length is not None:
                self.backend.enable_truncation(max_length)
            else:
                self.backend.no_truncation()
            encodings = self.backend.encode_batch(texts, add_special_tokens=add_special_tokens)
        ids = [e.ids for e in encodings]
        return Encoded(ids[0] if isinstance(text, str) else ids, encodings)


class Encoded(dict):
    """{"input_ids": ...} with `word_ids(i)`, as transformers' BatchEncoding has them."""

    def __init__(self, input_ids, encodings) -> None:
        super().__init__(input_ids=input_ids)
        self.encodings = encodings

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        return self.encodings[batch_index].word_ids


def load_query_tokenizer(name: str):
    """The tokenizer of a registry name, local folder or hub id: a `BackendTokenizer`
    where the model is a local folder with a fast tokenizer, else transformers' own."""
    from .loading import load_tokenizer

    folder = Path(resolve(name)).expanduser()
    if not folder.is_dir():
        return load_tokenizer(name)
    cached = spire_home() / "tokenizers" / f"{_key(folder)}.json"
    from tokenizers import Tokenizer

    if cached.is_file():
        backend = Tokenizer.from_file(str(cached))
        return BackendTokenizer(backend, backend.get_vocab_size(with_added_tokens=True))
    full = load_tokenizer(name)
    source = getattr(full, "backend_tokenizer", None)
    if source is None:
        return full
    backend = Tokenizer.from_str(source.to_str())
    backend.no_truncation()
    backend.no_padding()
    if backend.get_vocab_size(with_added_tokens=True) != len(full):
        return full  # a vocabulary transformers extends beyond its backend: keep its own
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(cached, backend.to_str())
    except OSError:  # a read-only $SPIRE_HOME: the next load goes through transformers
        pass
    return BackendTokenizer(backend, len(full))


def _plain_bert_wordpiece(backend) -> bool:
    """Is the pipeline BERT's (lowercasing normaliser that cleans text, BERT
    pre-tokenizer, WordPiece), whose ASCII handling `_ascii_ids` repeats?"""
    try:
        config = json.loads(backend.to_str())
    except ValueError:
        return False
    norm = config.get("normalizer") or {}
    return (
        norm.get("type") == "BertNormalizer"
        and norm.get("lowercase") is True
        and norm.get("clean_text") is True
        and (config.get("pre_tokenizer") or {}).get("type") == "BertPreTokenizer"
        and (config.get("model") or {}).get("type") == "WordPiece"
    )


def _key(folder: Path) -> str:
    """Changes with the folder's tokenizer files and with either library's version."""
    digest = hashlib.sha256(f"{version('transformers')} {version('tokenizers')}".encode())
    for name in TOKENIZER_FILES:
        path = folder / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]
