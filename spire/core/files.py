"""Small files, read and written safely: crash-safe writes and one JSON-object reader.

The lowest layer of the tree (it imports only the standard library and spire.core.errors), so
every package may use it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from spire.core.errors import SpireError


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to `path`: a crash leaves the old file or the new, never a part.

    It writes a hidden file beside `path`, fsyncs it, renames it over `path` and fsyncs
    the folder. On any error the hidden file is removed and the error re-raised.
    """
    path = Path(path)
    # Not mkstemp: its files are private (0600); "x" creates as write_text would.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


@contextmanager
def staged_files(folder: str | Path, prefix: str = ".tmp-") -> Iterator[Path]:
    """Yield a hidden staging folder inside `folder`; on success move each file written
    there into `folder`, replacing any of the same name.

    Each file is fsynced before its rename, and `folder` after, so a crash leaves every
    file whole, old or new (a crash between renames mixes old and new files). Files only,
    no subfolders. On any error the staging folder is removed and the error re-raised.
    """
    folder = Path(folder)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=prefix))
    try:
        yield staging
        files = sorted(staging.iterdir())
        for f in files:
            fsync_file(f)
        for f in files:
            os.replace(f, folder / f.name)
        fsync_dir(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_file(path: str | Path) -> None:
    """Remove `path` if it exists, durably (the folder is fsynced)."""
    path = Path(path)
    if path.exists():
        path.unlink()
        fsync_dir(path.parent)


def read_json_object(path: str | Path, expected: str = "a JSON object") -> dict:
    """The JSON object in `path`; else a one-line SpireError that starts with the path
    (no such file, not UTF-8, not valid JSON, or `expected` when it is not an object)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpireError(f"{path}: no such file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpireError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise SpireError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SpireError(f"{path}: expected {expected}")
    return data


@contextmanager
def file_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """An exclusive flock; the kernel drops it when its holder dies, even by SIGKILL."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
