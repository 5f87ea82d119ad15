"""Serving: the HTTP server over a backend (search, encode, add, delete, stats).

It sits above retrieval and indexing: `create_app` is given a backend (backend.py), by
default the index folder's own `IndexBackend`, and `serve` runs it under uvicorn.
"""

from .backend import Backend, IndexBackend
from .server import create_app

__all__ = ["Backend", "IndexBackend", "create_app"]
