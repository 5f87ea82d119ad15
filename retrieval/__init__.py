"""Retrieval: exact top-k search over an inverted index."""

from .searcher import Hit, Searcher

__all__ = ["Hit", "Searcher"]
