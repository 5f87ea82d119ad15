"""Crash-safe folder writes; the implementation (with the rule for what `overwrite` may
replace) is spire.artefacts.atomic_folder, here under its old import path."""

from __future__ import annotations

from spire.artefacts import atomic_folder, ensure_replaceable
from spire.files import fsync_dir, fsync_file

__all__ = ["atomic_folder", "ensure_replaceable", "fsync_dir", "fsync_file"]
