"""Checks that turn a truncated, corrupt or foreign index file into a one-line error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spire.core.choices import IMPACT_DTYPES
from spire.core.errors import SpireError
from spire.core.verified import sha256_matches

from .manifest import PACKED_ARRAYS, Manifest

if TYPE_CHECKING:
    from .inverted_index import InvertedIndex
    from .postings_codec import PackedDocIds


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
        if verify and not sha256_matches(path, meta.get("sha256")):
            raise SpireError(f"{path}: corrupt (sha256 differs from the manifest)")


def load_array(path: Path, mmap: bool) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise SpireError(f"{path}: missing index file") from None
    except Exception as exc:  # numpy raises many types for a damaged header
        raise SpireError(f"{path}: corrupt array ({type(exc).__name__}: {exc})") from None


# The dtypes the kernels are compiled for; a header claiming another one (same size on
# disk) would otherwise surface as a numba typing error in the middle of a search.
DTYPES = {
    "indptr": ("int64", "uint32"),  # uint32: a compressed index under 2**32 postings
    "doc_ids": ("int32",),
    "impacts": IMPACT_DTYPES,
    "first": ("int32",),
    "width": ("uint8",),
    "words": ("uint32",),
}


def load_postings(folder: Path, files: dict[str, str], mmap: bool) -> dict[str, np.ndarray]:
    """attribute -> array of each postings file (`files`: attribute -> relative path),
    each 1-d and of a dtype the kernels know."""
    arrays = {}
    for attr, rel in files.items():
        array = load_array(folder / rel, mmap)
        if array.ndim != 1 or array.dtype.name not in DTYPES[attr]:
            raise SpireError(
                f"{folder / rel}: expected a 1-d {' or '.join(DTYPES[attr])} array, "
                f"found {array.dtype.name} of shape {array.shape}"
            )
        arrays[attr] = array
    return arrays


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
    n_ids = len(index.doc_ids) if index.doc_ids is not None else manifest.n_postings
    if n_ids != manifest.n_postings or len(index.impacts) != manifest.n_postings:
        problems.append("postings arrays disagree with the manifest's posting count")
    elif index.indptr[0] != 0 or index.indptr[-1] != manifest.n_postings:
        problems.append("indptr does not span the postings")
    elif np.any(np.diff(index.indptr) < 0):
        problems.append("indptr is not ascending")
    if index.idf is not None and len(index.idf) != manifest.vocab_size:
        problems.append(f"idf.npy has {len(index.idf)} entries, vocab is {manifest.vocab_size}")
    if manifest.encoder.static_queries and index.idf is None:
        problems.append("an inference-free index needs idf.npy")
    if problems:
        raise SpireError(f"{folder}: inconsistent index ({problems[0]})")


def check_layout(folder: Path, packed: PackedDocIds) -> None:
    """Packed doc ids whose blocks fit the postings (O(blocks)): the decoder then never
    reads outside its arrays, whatever the packed bits say."""
    attr, problem = packed.layout_problem()
    if problem:
        raise SpireError(f"{folder / PACKED_ARRAYS[attr]}: inconsistent index ({problem})")


def check_doc_ids(folder: Path, index: InvertedIndex) -> None:
    """Every posting names a real document (O(postings); the scoring kernel trusts it)."""
    if index.packed is not None:
        attr = index.packed.fault(index.indptr, index.n_docs)
        if attr:
            raise SpireError(
                f"{folder / PACKED_ARRAYS[attr]}: document numbers out of range or out of order"
            )
        return
    if len(index.doc_ids) and (index.doc_ids.min() < 0 or index.doc_ids.max() >= index.n_docs):
        raise SpireError(f"{folder / 'postings/doc_ids.npy'}: document numbers out of range")
