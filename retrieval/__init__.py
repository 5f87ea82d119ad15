"""Retrieval: exact top-k search over an index of 1..N segments, dense search, fusion."""

from importlib import import_module
from typing import Any

from .searcher import Hit, Searcher, SegmentHit, open_index

__all__ = ["DenseSearcher", "Hit", "Searcher", "SegmentHit", "open_index"]


def __getattr__(name: str) -> Any:
    # Lazy, so sparse search never pays for importing faiss.
    if name == "DenseSearcher":
        return import_module(".dense_searcher", __name__).DenseSearcher
    raise AttributeError(f"module 'retrieval' has no attribute {name!r}")
