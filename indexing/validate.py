"""Checks that turn a truncated, corrupt or foreign index file into a one-line error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from encoders.registry import sha256_file
from spire.errors import SpireError

from .manifest import Manifest

if TYPE_CHECKING:
    from .inverted_index import InvertedIndex


def check_files(folder: Path, manifest: Manifest, verify: bool) -> None:
    for rel, meta in manifest.files.items():
        path = folder / rel
        if not path.is_file():
            raise SpireError(f"{path}: missing index file")
        size = path.stat().st_size
        if size != meta.get("bytes"):
            raise SpireError(
                f"{path}: truncated or altered ({size} bytes, manifest says {meta.get('bytes')})"
            )
        if verify and sha256_file(path) != meta.get("sha256"):
            raise SpireError(f"{path}: corrupt (sha256 differs from the manifest)")


def load_array(path: Path, mmap: bool) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise SpireError(f"{path}: missing index file") from None
    except (ValueError, OSError, EOFError) as exc:
        raise SpireError(f"{path}: corrupt array ({exc})") from None


def load_docids(path: Path) -> list[str]:
    try:
        ids = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpireError(f"{path}: missing index file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpireError(f"{path}: corrupt ({exc})") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise SpireError(f"{path}: expected a JSON list of document ids")
    return ids


def check_structure(folder: Path, index: InvertedIndex, manifest: Manifest) -> None:
    """Cheap invariants (O(vocab)) that catch files from different indexes mixed together."""
    problems = []
    if index.vocab_size != manifest.vocab_size:
        problems.append(
            f"indptr covers {index.vocab_size} terms, manifest says {manifest.vocab_size}"
        )
    if index.n_docs != manifest.n_docs:
        problems.append(f"docids.json has {index.n_docs} ids, manifest says {manifest.n_docs}")
    if len(index.doc_ids) != manifest.n_postings or len(index.impacts) != manifest.n_postings:
        problems.append("postings arrays disagree with the manifest's posting count")
    elif index.indptr[0] != 0 or index.indptr[-1] != manifest.n_postings:
        problems.append("indptr does not span the postings")
    if index.idf is not None and len(index.idf) != manifest.vocab_size:
        problems.append(f"idf.npy has {len(index.idf)} entries, vocab is {manifest.vocab_size}")
    if manifest.encoder.mode == "inference-free" and index.idf is None:
        problems.append("an inference-free index needs idf.npy")
    if problems:
        raise SpireError(f"{folder}: inconsistent index ({problems[0]})")
