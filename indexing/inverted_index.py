"""InvertedIndex: term-major postings (CSC of the doc x vocab matrix) with quantised impacts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from encoders.registry import sha256_file
from spire.errors import SpireError

from .atomic import atomic_folder
from .manifest import EncoderInfo, Manifest, now_iso
from .quantize import quantize

ARRAYS = {
    "indptr": "postings/indptr.npy",
    "doc_ids": "postings/doc_ids.npy",
    "impacts": "postings/impacts.npy",
}
IDF_FILE = "idf.npy"
DOCIDS_FILE = "docids.json"


@dataclass
class InvertedIndex:
    """Postings of term t are doc_ids[indptr[t]:indptr[t+1]] with impacts in the same range.

    A document's score for query q is scale * sum_t q[t] * impact[t, doc].
    """

    indptr: np.ndarray  # int64, vocab_size + 1
    doc_ids: np.ndarray  # int32, internal document numbers, ascending within a term
    impacts: np.ndarray  # float32, uint16 or uint8
    scale: float
    docids: list[str]  # external ids, by internal number
    encoder: EncoderInfo
    idf: np.ndarray | None = None  # query-side IDF of an inference-free index

    @classmethod
    def from_matrix(
        cls,
        docs: sp.csr_matrix,
        docids: list[str],
        encoder: EncoderInfo,
        impact_dtype: str = "uint8",
        idf: np.ndarray | None = None,
    ) -> InvertedIndex:
        if docs.shape[0] != len(docids):
            raise ValueError(f"{docs.shape[0]} document vectors but {len(docids)} ids")
        csc = sp.csc_matrix(docs, dtype=np.float32)
        csc.sum_duplicates()
        impacts, scale = quantize(csc.data, impact_dtype)
        postings = sp.csc_matrix((impacts, csc.indices, csc.indptr), shape=csc.shape)
        # Weights that round to zero would cost postings and add nothing to any score.
        postings.eliminate_zeros()
        return cls(
            indptr=postings.indptr.astype(np.int64),
            doc_ids=postings.indices.astype(np.int32),
            impacts=postings.data,
            scale=scale,
            docids=list(docids),
            encoder=encoder,
            idf=None if idf is None else np.asarray(idf, dtype=np.float32),
        )

    @property
    def vocab_size(self) -> int:
        return len(self.indptr) - 1

    @property
    def n_docs(self) -> int:
        return len(self.docids)

    @property
    def n_postings(self) -> int:
        return int(self.indptr[-1])

    @property
    def impact_dtype(self) -> str:
        return np.dtype(self.impacts.dtype).name

    def nbytes(self) -> int:
        return int(self.indptr.nbytes + self.doc_ids.nbytes + self.impacts.nbytes)

    def postings_per_doc(self) -> float:
        return self.n_postings / max(self.n_docs, 1)

    def to_matrix(self) -> sp.csr_matrix:
        """The (n_docs, vocab) matrix of dequantised weights, for brute force and export."""
        csc = sp.csc_matrix(
            (self.impacts.astype(np.float32) * self.scale, self.doc_ids, self.indptr),
            shape=(self.n_docs, self.vocab_size),
        )
        return csc.tocsr()

    def save(self, folder: str | Path, overwrite: bool = False) -> Path:
        """Write the index folder atomically (staging folder, fsync, rename)."""
        folder = Path(folder)
        try:
            with atomic_folder(folder, overwrite=overwrite) as tmp:
                (tmp / "postings").mkdir()
                for attr, rel in ARRAYS.items():
                    np.save(
                        tmp / rel, np.ascontiguousarray(getattr(self, attr)), allow_pickle=False
                    )
                if self.idf is not None:
                    np.save(tmp / IDF_FILE, self.idf, allow_pickle=False)
                (tmp / DOCIDS_FILE).write_text(json.dumps(self.docids), encoding="utf-8")
                (tmp / "manifest.json").write_text(self._manifest(tmp).to_json(), encoding="utf-8")
        except FileExistsError:
            raise SpireError(f"{folder} already exists; pass overwrite to replace it") from None
        return folder

    def _manifest(self, folder: Path) -> Manifest:
        from spire import __version__

        files = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            if rel != "manifest.json":
                files[rel] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
        return Manifest(
            encoder=self.encoder,
            vocab_size=self.vocab_size,
            n_docs=self.n_docs,
            n_postings=self.n_postings,
            impact_dtype=self.impact_dtype,
            scale=self.scale,
            files=files,
            created_with=f"spire {__version__}",
            created_at=now_iso(),
        )

    @classmethod
    def load(cls, folder: str | Path, mmap: bool = True, verify: bool = True) -> InvertedIndex:
        """Open an index; arrays are memory-mapped.

        Sizes and structure are always checked. `verify` also checks each file's sha256
        and that doc numbers are in range: it reads every byte, so skip it only for a
        very large index that you trust.
        """
        from .validate import (
            check_doc_ids,
            check_files,
            check_structure,
            load_array,
            load_docids,
        )

        folder = Path(folder)
        manifest = Manifest.read(folder)
        required = [*ARRAYS.values(), DOCIDS_FILE]
        if manifest.encoder.mode == "inference-free":
            required.append(IDF_FILE)
        check_files(folder, manifest.files, verify, required)
        arrays = {attr: load_array(folder / rel, mmap) for attr, rel in ARRAYS.items()}
        idf = load_array(folder / IDF_FILE, mmap=False) if (folder / IDF_FILE).exists() else None
        index = cls(
            scale=float(manifest.scale),
            docids=load_docids(folder / DOCIDS_FILE),
            encoder=manifest.encoder,
            idf=idf,
            **arrays,
        )
        check_structure(folder, index, manifest)
        if verify:
            check_doc_ids(folder, index)
        return index
