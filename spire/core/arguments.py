"""Checks of public API arguments, written once: the Python API, the CLI and the HTTP
server give the same answer and the same words for the same input.

Each `*_problem` function says what is wrong with a value ("" when nothing); the server's
request models raise it as a validation error, and each `check_*` raises it as an
ArgumentError that starts with the argument's name, before any encoding work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral

from spire.core.errors import ArgumentError


def query_problem(query: object) -> str:
    if not isinstance(query, str):
        return f"must be a str, not {type(query).__name__}"
    if not query.strip():
        return "must not be empty or only whitespace"
    return ""


def check_query(query: object, name: str = "query") -> str:
    """A query text: a str with something besides whitespace."""
    problem = query_problem(query)
    if problem:
        raise ArgumentError(f"{name}: {problem}")
    return query


def check_k(k: object, name: str = "k") -> int:
    """A number of hits: an int (not a bool, not a str) of at least 1."""
    if not isinstance(k, Integral) or isinstance(k, bool):
        raise ArgumentError(f"{name}: must be an int, not {type(k).__name__}")
    if k < 1:
        raise ArgumentError(f"{name}: must be at least 1, not {k}")
    return int(k)


def check_texts(texts: object, n: int | None = None, name: str = "texts") -> list[str]:
    """A list of document texts (each a str; empty ones are allowed), `n` of them when
    given."""
    if isinstance(texts, str | bytes) or not isinstance(texts, Sequence | Iterable):
        raise ArgumentError(f"{name}: must be a list of str, not {type(texts).__name__}")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ArgumentError(f"{name}[{i}]: must be a str, not {type(text).__name__}")
    if n is not None and len(texts) != n:
        raise ArgumentError(f"{name}: {len(texts)} texts for {n} ids")
    return texts


def check_encoder(encoder: object, name: str = "encoder") -> object:
    """A sparse encoder, as `spire.load_encoder` returns."""
    needed = ("encode_documents", "encode_queries", "mode", "name")
    if not all(hasattr(encoder, attr) for attr in needed):
        raise ArgumentError(
            f"{name}: must be a sparse encoder (spire.load_encoder(...)), "
            f"not {type(encoder).__name__}"
        )
    return encoder


def check_queries(queries: object, name: str = "queries") -> dict[str, str]:
    """Query texts by id: a mapping, or a sequence keyed by position ("0", "1", ...)."""
    if isinstance(queries, Mapping):
        pairs = [(str(key), text) for key, text in queries.items()]
    elif isinstance(queries, Sequence) and not isinstance(queries, str | bytes):
        pairs = [(str(i), text) for i, text in enumerate(queries)]
    else:
        raise ArgumentError(
            f"{name}: must be a list of str or a dict of id -> str, not {type(queries).__name__}"
        )
    return {key: check_query(text, f"{name}[{key!r}]") for key, text in pairs}
