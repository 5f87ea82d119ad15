"""Crash-safe writes: write beside the target, fsync, then rename into place."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from spire.files import fsync_dir, fsync_file

__all__ = ["atomic_folder", "fsync_dir", "fsync_file"]


@contextmanager
def atomic_folder(target: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging folder; on success it replaces `target` by rename.

    A crash before the rename leaves `target` untouched and only a hidden staging
    folder behind. Replacing an existing folder moves it aside first, so at every
    instant one complete copy exists on disk.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise FileExistsError(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        yield staging
        for f in staging.rglob("*"):
            if f.is_file():
                fsync_file(f)
        for d in [*sorted(p for p in staging.rglob("*") if p.is_dir()), staging]:
            fsync_dir(d)
        aside = None
        if target.exists():
            aside = target.parent / f".{target.name}.old-{os.getpid()}"
            os.replace(target, aside)
        os.replace(staging, target)
        fsync_dir(target.parent)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
