"""Garbage: files that the committed manifest does not reference.

A writer killed mid-commit leaves a staged segment, a tombstone file or a manifest temp
file that no manifest names; a commit that replaces segments leaves the old ones. None
of these is ever visible to a reader, so deleting them is only about disk space. Sweeps
run under the write lock, so no other writer is between "install" and "commit".
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .manifest import IDF_DIR, MANIFEST, SEGMENTS_DIR, STAGING_DIR, TOMBSTONES_DIR

# What a plain index keeps at its root; after conversion these live in the base segment.
PLAIN_LEFTOVERS = ("postings", "docids.json", "idf.npy")


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_all(root: Path, rels) -> None:
    for rel in rels:
        remove(root / rel)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _owner(name: str) -> int | None:
    """The pid a staging or temp name starts with (".1234-5-seg.tmp-x" -> 1234)."""
    head = name.lstrip(".").split("-", 1)[0]
    return int(head) if head.isdigit() else None


def sweep(root: Path, referenced: set[str]) -> list[str]:
    """Delete unreferenced segments, tombstones and IDF tables, staging folders of dead
    writers, and a converted plain index's old root files. Returns what was removed."""
    removed = []
    for sub in (SEGMENTS_DIR, TOMBSTONES_DIR, IDF_DIR):
        folder = root / sub
        if folder.is_dir():
            for child in folder.iterdir():
                rel = f"{sub}/{child.name}"
                if rel not in referenced:
                    remove(child)
                    removed.append(rel)
    staging = root / STAGING_DIR
    if staging.is_dir():
        for child in staging.iterdir():
            owner = _owner(child.name)
            # Our own staging may be an in-flight merge; other live writers' too.
            if owner is None or (owner != os.getpid() and not pid_alive(owner)):
                remove(child)
                removed.append(f"{STAGING_DIR}/{child.name}")
    for name in PLAIN_LEFTOVERS:
        if (root / name).exists():
            remove(root / name)
            removed.append(name)
    for child in root.glob(f".{MANIFEST}.tmp-*"):
        remove(child)
        removed.append(child.name)
    return removed
