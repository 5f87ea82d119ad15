"""Retrieval: exact top-k search over an index of 1..N segments, dense search, fusion."""

from spire.core.lazy import lazy_exports

from .searcher import Hit, Searcher, SegmentHit, open_index

__all__ = ["DenseSearcher", "Hit", "Searcher", "SegmentHit", "open_index"]

# Lazy, so sparse search never pays for importing faiss.
__getattr__ = lazy_exports(__name__, {"DenseSearcher": ".dense_searcher"})
