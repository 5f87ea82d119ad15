"""DenseIndex: exact inner-product search (faiss IndexFlatIP) over unit document vectors.

A dense index is a folder: `index.faiss` (faiss's own format, never pickle),
`docids.json` (external ids by row) and `manifest.json` (format, encoder, dim, doc count
and the size and sha256 of each file).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from spire.core.artefacts import atomic_folder
from spire.core.errors import SpireError
from spire.core.hashing import sha256_file

from .manifest import MANIFEST_FILE, Format, now_iso, read_manifest
from .validate import check_files, load_docids

FORMAT_NAME = "spire-dense-index"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
INDEX_FILE = "index.faiss"
DOCIDS_FILE = "docids.json"
FORMAT = Format(FORMAT_NAME, SUPPORTED_VERSIONS, "dense index", "not a spire dense index manifest")


@dataclass
class DenseManifest:
    encoder: str
    dim: int
    n_docs: int
    metric: str = "inner_product"
    files: dict[str, dict] = field(default_factory=dict)  # relative path -> {bytes, sha256}
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION
    created_with: str = ""
    created_at: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def read(cls, folder: Path) -> DenseManifest:
        return read_manifest(folder, FORMAT, lambda raw: cls(**raw))

    def problem(self) -> str:
        """Why the fields are malformed ("" when they are not): `read_manifest` asks."""
        for name in ("dim", "n_docs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                return f"{name} must be an integer >= 0"
        if not isinstance(self.files, dict):
            return "files must be an object"
        return ""


class DenseIndex:
    """Document vectors in a faiss IndexFlatIP, with the external id of each row."""

    def __init__(self, index: faiss.Index, docids: list[str], encoder: str = "") -> None:
        self.index = index
        self.docids = docids
        self.encoder = encoder  # name of the model that made the vectors, for the searcher

    @classmethod
    def build(cls, docids: Sequence[str], vectors: np.ndarray, encoder: str = "") -> DenseIndex:
        """Index (n, dim) vectors; inner product equals cosine when they are unit length."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise SpireError(f"vectors must be a 2-d (n, dim) array, got shape {vectors.shape}")
        if vectors.shape[0] != len(docids):
            raise SpireError(f"{vectors.shape[0]} document vectors but {len(docids)} ids")
        if len(set(docids)) != len(docids):
            raise SpireError("document ids must be unique (a run maps each id to one score)")
        if not np.isfinite(vectors).all():
            raise SpireError("vectors contain NaN or infinity")
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        return cls(index, [str(d) for d in docids], encoder)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def n_docs(self) -> int:
        return len(self.docids)

    def nbytes(self) -> int:
        return self.n_docs * self.dim * 4

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), each (n_queries, min(k, n_docs)), best first."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise SpireError(f"query vectors must have shape (n, {self.dim}), got {queries.shape}")
        k = min(max(int(k), 0), self.n_docs)
        if k == 0 or queries.shape[0] == 0:
            empty = np.zeros((queries.shape[0], 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        return self.index.search(queries, k)

    def save(self, folder: str | Path, overwrite: bool = False) -> Path:
        """Write the index folder atomically (staging folder, fsync, rename)."""
        from spire.core.version import __version__

        folder = Path(folder)
        with atomic_folder(folder, overwrite=overwrite) as tmp:
            faiss.write_index(self.index, str(tmp / INDEX_FILE))
            (tmp / DOCIDS_FILE).write_text(json.dumps(self.docids), encoding="utf-8")
            files = {
                rel: {"bytes": (tmp / rel).stat().st_size, "sha256": sha256_file(tmp / rel)}
                for rel in (INDEX_FILE, DOCIDS_FILE)
            }
            manifest = DenseManifest(
                encoder=self.encoder,
                dim=self.dim,
                n_docs=self.n_docs,
                files=files,
                created_with=f"spire {__version__}",
                created_at=now_iso(),
            )
            (tmp / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path, verify: bool = True) -> DenseIndex:
        """Open a dense index; `verify` also checks each file's sha256 against the manifest."""
        folder = Path(folder)
        manifest = DenseManifest.read(folder)
        check_files(folder, manifest.files, verify, [INDEX_FILE, DOCIDS_FILE])
        try:
            index = faiss.read_index(str(folder / INDEX_FILE))
        except RuntimeError as exc:  # faiss reports a damaged file as a C++ exception
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
            raise SpireError(f"{folder / INDEX_FILE}: corrupt faiss index ({reason})") from None
        docids = load_docids(folder / DOCIDS_FILE)
        problem = _inconsistency(index, docids, manifest)
        if problem:
            raise SpireError(f"{folder}: inconsistent dense index ({problem})")
        return cls(index, docids, manifest.encoder)


def _inconsistency(index: faiss.Index, docids: list[str], manifest: DenseManifest) -> str:
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        return f"{INDEX_FILE} does not use inner product"
    if index.d != manifest.dim:
        return f"{INDEX_FILE} has dim {index.d}, manifest says {manifest.dim}"
    if index.ntotal != manifest.n_docs or len(docids) != manifest.n_docs:
        return (
            f"{INDEX_FILE} holds {index.ntotal} vectors and {DOCIDS_FILE} {len(docids)} ids, "
            f"manifest says {manifest.n_docs}"
        )
    return ""
