"""A process-level store for the corpus-level work of an evaluation: document vectors and
the BM25 and dense baseline runs, keyed by the dataset's content and the options that
change the result.

Off by default: one `spire eval` does each piece of work once anyway, and a library
user's process should not hold every corpus it ever encoded. The test session turns it on
(tests/conftest.py), so the regressions' commands, run in-process one after another,
encode each corpus once, as a shared `Systems` did before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import TypeVar

from eval.data.datasets import Dataset

T = TypeVar("T")

_store: dict[tuple, object] | None = None


def keep(on: bool = True) -> None:
    """Start (or, `on=False`, stop and empty) the store for this process."""
    global _store
    _store = {} if on else None


def kept() -> bool:
    return _store is not None


def cached(key: tuple, compute: Callable[[], T]) -> T:
    """`compute()`, or what it returned before for `key` while the store is on."""
    if _store is None:
        return compute()
    if key not in _store:
        _store[key] = compute()
    return _store[key]  # type: ignore[return-value]


def corpus_key(data: Dataset) -> str:
    """The corpus's content (ids and texts, in order): what document vectors depend on."""
    return _digest(zip(data.corpus.ids, data.corpus.texts, strict=True))


def dataset_key(data: Dataset) -> str:
    """The corpus and the judged queries: what a run depends on."""
    return corpus_key(data) + _digest(data.queries.items())


def _digest(pairs: Iterable[tuple[str, str]]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a, b in pairs:
        h.update(a.encode("utf-8", "surrogatepass") + b"\0")
        h.update(b.encode("utf-8", "surrogatepass") + b"\1")
    return h.hexdigest()
