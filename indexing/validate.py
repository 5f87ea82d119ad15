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


def check_files(folder: Path, files: dict, verify: bool, required: list[str]) -> None:
    """Every file a manifest lists (`files`: path -> {bytes, sha256}) is there, whole and,
    with `verify`, unchanged; the `required` ones must be listed."""
    unlisted = [rel for rel in required if not isinstance(files.get(rel), dict)]
    if unlisted:
        raise SpireError(
            f"{folder / 'manifest.json'}: does not list {unlisted[0]}, so it cannot be checked"
        )
    for rel, meta in files.items():
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
    except Exception as exc:  # numpy raises many types for a damaged header
        raise SpireError(f"{path}: corrupt array ({type(exc).__name__}: {exc})") from None


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


def check_doc_ids(folder: Path, index: InvertedIndex) -> None:
    """Every posting names a real document (O(postings); the scoring kernel trusts it)."""
    if len(index.doc_ids) and (index.doc_ids.min() < 0 or index.doc_ids.max() >= index.n_docs):
        raise SpireError(f"{folder / 'postings/doc_ids.npy'}: document numbers out of range")
