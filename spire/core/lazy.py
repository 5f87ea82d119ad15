"""Lazy exports: a package's names imported from their modules on first use.

`import spire`, `import training` or `from indexing.incremental import SegmentReader`
must not pay for what the other names need (torch; the incremental writer), so those
packages export names through a module-level `__getattr__` (PEP 562) made here.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, homes: dict[str, str]) -> Callable[[str], Any]:
    """The `__getattr__` of `package`: name -> getattr(import_module(homes[name]), name).
    A home may be relative to the package (".reader")."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(home, package), name)

    return __getattr__
