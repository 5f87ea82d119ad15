"""Folders spire writes, and the one rule for replacing them: `--overwrite` replaces only
what spire itself wrote.

Every writer of a folder (an index, a segmented index, a dense index, an export, a model
folder from `spire train`, `spire models export-onnx` or `spire prune`) goes through
`ensure_replaceable`, directly or through `atomic_folder`. A path may be written when it
is missing or an empty folder; with `overwrite` it may also be a folder that a known
spire marker file says spire wrote. Anything else is refused in one line and left
byte for byte as it was: a folder of other files, a regular file, a symbolic link, the
filesystem root, the home directory, the current directory or one of its parents.

The markers are the files each writer records (manifest.json's `format`, export.json,
spire_onnx.json, sparsity.json, training_config.json, a checkpoint's trainer_state.json);
a training run also writes `spire-artefact.json` when it starts, so that a run stopped
before its first checkpoint can be replaced. This module is part of the floor: it
imports only the standard library and spire's own floor modules.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from spire.core.errors import SpireError
from spire.core.files import fsync_dir, fsync_file, write_text_atomic

MARKER = "spire-artefact.json"
# manifest.json `format` -> kind; the names are the ones indexing/ writes
# (tests/spire/core/test_artefacts.py checks that they agree).
MANIFEST_FORMATS = {
    "spire-index": "index",
    "spire-segmented-index": "segmented index",
    "spire-dense-index": "dense index",
}
EXPORT_FORMATS = ("lucene-jsonvector", "opensearch")
# marker file -> (kind, a key its JSON object must hold, or None for any object)
MARKER_FILES = {
    "export.json": ("export", "format"),
    "spire_onnx.json": ("ONNX model", "graphs"),
    "sparsity.json": ("pruned model", None),
    "training_config.json": ("trained model", "config"),
    "trainer_state.json": ("training checkpoint", "step"),
}
KINDS = ("training output",)  # what `mark_artefact` may record


def _json_object(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing, unreadable, not UTF-8 or not JSON
        return None
    return data if isinstance(data, dict) else None


def artefact_kind(folder: str | Path) -> str | None:
    """What spire wrote `folder` as ("index", "export", "trained model", ...), or None
    when no marker file says spire wrote it."""
    folder = Path(folder)
    manifest = _json_object(folder / "manifest.json")
    if manifest is not None and manifest.get("format") in MANIFEST_FORMATS:
        return MANIFEST_FORMATS[manifest["format"]]
    for name, (kind, key) in MARKER_FILES.items():
        data = _json_object(folder / name)
        if data is not None and (key is None or key in data):
            if name == "export.json" and data["format"] not in EXPORT_FORMATS:
                continue
            return kind
    marker = _json_object(folder / MARKER)
    if marker is not None and marker.get("kind") in KINDS:
        return marker["kind"]
    return None


def mark_artefact(folder: str | Path, kind: str) -> None:
    """Record in `folder` that spire writes it as `kind` (for writers that have no other
    marker until they finish, such as a training run)."""
    if kind not in KINDS:
        raise ValueError(f"unknown artefact kind {kind!r}")
    from spire.core.version import __version__

    body = json.dumps({"kind": kind, "created_with": f"spire {__version__}"})
    write_text_atomic(Path(folder) / MARKER, body + "\n")


def _protected(path: Path) -> str:
    """Why `path` may never be replaced, or ""."""
    resolved = path.resolve()
    if resolved == Path(resolved.anchor):
        return "is the filesystem root"
    if resolved == Path.home().resolve():
        return "is the home directory"
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        return "is the current directory or one of its parents"
    return ""


def ensure_replaceable(path: str | Path, overwrite: bool) -> None:
    """Refuse, in one line that names `path`, to write a folder at `path` unless it is
    missing, an empty folder, or (with `overwrite`) a folder spire wrote."""
    path = Path(path)
    advice = "remove it yourself or choose another output folder"
    if path.is_symlink():
        raise SpireError(f"{path} is a symbolic link; {advice}")
    if not path.exists():
        above = next((p for p in path.absolute().parents if p.exists()), None)
        if above is not None and not above.is_dir():
            raise SpireError(f"{path}: {above} is a file, not a folder; {advice}")
        return
    why = _protected(path)
    if why:
        raise SpireError(f"{path} {why}; it is never replaced; choose another output folder")
    if not path.is_dir():
        raise SpireError(f"{path} is a file, not a folder spire wrote; {advice}")
    if not any(path.iterdir()):
        return
    if not overwrite:
        raise SpireError(f"{path} already exists; pass --overwrite (overwrite=True) to replace it")
    if artefact_kind(path) is None:
        raise SpireError(
            f"{path} exists and is not a spire index, export, model or dense index; {advice}"
        )


@contextmanager
def atomic_folder(target: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging folder; on success it replaces `target` by rename.

    `target` is checked by `ensure_replaceable` first and again just before the rename
    (it may have changed while the folder was being written). A crash before the rename
    leaves `target` untouched and only a hidden staging folder behind. Replacing an
    existing folder moves it aside first, so at every instant one complete copy exists.
    """
    target = Path(target)
    ensure_replaceable(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        yield staging
        for f in staging.rglob("*"):
            if f.is_file():
                fsync_file(f)
        for d in [*sorted(p for p in staging.rglob("*") if p.is_dir()), staging]:
            fsync_dir(d)
        ensure_replaceable(target, overwrite)
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
