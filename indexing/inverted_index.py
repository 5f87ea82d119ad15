"""InvertedIndex: term-major postings (CSC of the doc x vocab matrix) with quantised impacts."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from spire.core.artefacts import atomic_folder
from spire.core.hashing import sha256_file
from spire.core.ids import check_ids

from .manifest import (
    ARRAYS,
    COMPRESSIONS,
    FORMAT_VERSION,
    FORMAT_VERSION_COMPRESSED,
    PACKED_ARRAYS,
    EncoderInfo,
    Manifest,
    now_iso,
    postings_files,
)
from .postings_codec import PackedDocIds
from .quantize import quantize

IDF_FILE = "idf.npy"
DOCIDS_FILE = "docids.json"
# Packed doc ids are the default: 2.0 bytes a posting on disk instead of 5.2, below
# Lucene's 2.2, for a search cost within the noise of the uncompressed kernels
# (docs/benchmarks.md, "Compressed postings").
DEFAULT_COMPRESSION = "bitpack"


@dataclass
class InvertedIndex:
    """Postings of term t are doc_ids[indptr[t]:indptr[t+1]] with impacts in the same range.

    A document's score for query q is scale * sum_t q[t] * impact[t, doc].
    """

    indptr: np.ndarray  # int64, vocab_size + 1
    doc_ids: np.ndarray | None  # int32, internal document numbers, ascending within a term
    impacts: np.ndarray  # float32, uint16 or uint8
    scale: float
    docids: list[str]  # external ids, by internal number
    encoder: EncoderInfo
    idf: np.ndarray | None = None  # query-side IDF of an inference-free index
    # compression="bitpack": the doc ids, packed, and doc_ids is None. The kernels read
    # them packed; anything else asks all_doc_ids() or term_doc_ids().
    packed: PackedDocIds | None = None

    @classmethod
    def from_matrix(
        cls,
        docs: sp.csr_matrix,
        docids: list[str],
        encoder: EncoderInfo,
        impact_dtype: str = "uint8",
        idf: np.ndarray | None = None,
        compression: str = DEFAULT_COMPRESSION,
        check: bool = True,
    ) -> InvertedIndex:
        """The index of a (docs x vocab) matrix; `docids` follow spire.core.ids unless `check`
        is False (a merge re-indexes ids an older spire may have accepted)."""
        docids = check_ids(docids, "docids") if check else list(docids)
        if docs.shape[0] != len(docids):
            raise ValueError(f"{docs.shape[0]} document vectors but {len(docids)} ids")
        csc = sp.csc_matrix(docs, dtype=np.float32)
        csc.sum_duplicates()
        impacts, scale = quantize(csc.data, impact_dtype)
        postings = sp.csc_matrix((impacts, csc.indices, csc.indptr), shape=csc.shape)
        # Weights that round to zero would cost postings and add nothing to any score.
        postings.eliminate_zeros()
        index = cls(
            indptr=postings.indptr.astype(np.int64),
            doc_ids=postings.indices.astype(np.int32),
            impacts=postings.data,
            scale=scale,
            docids=docids,
            encoder=encoder,
            idf=None if idf is None else np.asarray(idf, dtype=np.float32),
        )
        return index.with_compression(compression)

    def with_compression(self, compression: str) -> InvertedIndex:
        """The same postings with doc ids stored as `compression` ("none", "bitpack")."""
        if compression not in COMPRESSIONS:
            raise ValueError(
                f"unknown compression {compression!r}; choose one of {', '.join(COMPRESSIONS)}"
            )
        if compression == self.compression:
            return dataclasses.replace(self)
        if compression == "none":
            return dataclasses.replace(self, doc_ids=self.all_doc_ids(), packed=None)
        packed = PackedDocIds.encode(self.indptr, self.doc_ids)
        return dataclasses.replace(self, doc_ids=None, packed=packed)

    @property
    def compression(self) -> str:
        return "none" if self.packed is None else "bitpack"

    def all_doc_ids(self) -> np.ndarray:
        """Every posting's doc number (decoded, O(postings) memory, when packed)."""
        if self.packed is None:
            return self.doc_ids
        return self.packed.decode(self.indptr)

    def term_doc_ids(self, t: int) -> np.ndarray:
        """The doc numbers of term t's postings, ascending."""
        if self.packed is None:
            return self.doc_ids[self.indptr[t] : self.indptr[t + 1]]
        return self.packed.decode_term(self.indptr, t)

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
        """Bytes of the arrays search reads (for a packed index, its derived layout too)."""
        ids = self.doc_ids.nbytes if self.packed is None else self.packed.nbytes()
        return int(self.indptr.nbytes + ids + self.impacts.nbytes)

    def postings_per_doc(self) -> float:
        return self.n_postings / max(self.n_docs, 1)

    def to_matrix(self) -> sp.csr_matrix:
        """The (n_docs, vocab) matrix of dequantised weights, for brute force and export."""
        csc = sp.csc_matrix(
            (self.impacts.astype(np.float32) * self.scale, self.all_doc_ids(), self.indptr),
            shape=(self.n_docs, self.vocab_size),
        )
        return csc.tocsr()

    def save(self, folder: str | Path, overwrite: bool = False) -> Path:
        """Write the index folder atomically (staging folder, fsync, rename)."""
        folder = Path(folder)
        with atomic_folder(folder, overwrite=overwrite) as tmp:
            (tmp / "postings").mkdir()
            for rel, array in self._stored_arrays().items():
                np.save(tmp / rel, np.ascontiguousarray(array), allow_pickle=False)
            if self.idf is not None:
                np.save(tmp / IDF_FILE, self.idf, allow_pickle=False)
            (tmp / DOCIDS_FILE).write_text(json.dumps(self.docids), encoding="utf-8")
            (tmp / "manifest.json").write_text(self._manifest(tmp).to_json(), encoding="utf-8")
        return folder

    def _stored_arrays(self) -> dict[str, np.ndarray]:
        if self.packed is None:
            return {rel: getattr(self, attr) for attr, rel in ARRAYS.items()}
        indptr = self.indptr
        if self.n_postings < 2**32:  # 4 bytes a term instead of 8: a small index notices
            indptr = indptr.astype(np.uint32)
        arrays = {"indptr": indptr, "impacts": self.impacts}
        arrays |= {attr: getattr(self.packed, attr) for attr in PackedDocIds.STORED}
        return {PACKED_ARRAYS[attr]: array for attr, array in arrays.items()}

    def _manifest(self, folder: Path) -> Manifest:
        from spire.core.version import __version__

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
            compression=self.compression,
            format_version=FORMAT_VERSION if self.packed is None else FORMAT_VERSION_COMPRESSED,
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
        from .validate import check_files, load_array

        folder = Path(folder)
        manifest = Manifest.read(folder)
        required = [*postings_files(manifest.compression).values(), DOCIDS_FILE]
        if manifest.encoder.static_queries:
            required.append(IDF_FILE)
        check_files(folder, manifest.files, verify, required)
        idf = load_array(folder / IDF_FILE, mmap=False) if (folder / IDF_FILE).exists() else None
        return cls.open_checked(folder, manifest, idf, mmap, verify)

    @classmethod
    def open_checked(
        cls, folder: Path, manifest: Manifest, idf: np.ndarray | None, mmap: bool, verify: bool
    ) -> InvertedIndex:
        """Read the postings and ids of a folder whose files were already checked against
        `manifest` (here, or by a segmented index's own manifest), then check that they
        fit together; `verify` also checks every doc number."""
        from .validate import (
            check_doc_ids,
            check_layout,
            check_structure,
            load_docids,
            load_postings,
        )

        arrays = load_postings(folder, postings_files(manifest.compression), mmap)
        stored = [arrays.pop(attr) for attr in PackedDocIds.STORED if attr in arrays]
        if stored:  # the kernels want one indptr type; this copy is O(vocab)
            arrays["indptr"] = np.asarray(arrays["indptr"], dtype=np.int64)
        index = cls(
            scale=float(manifest.scale),
            docids=load_docids(folder / DOCIDS_FILE),
            encoder=manifest.encoder,
            idf=idf,
            doc_ids=arrays.pop("doc_ids", None),
            **arrays,
        )
        check_structure(folder, index, manifest)
        if stored:  # indptr is known sound now: derive the block layout from it
            index.packed = PackedDocIds.from_stored(index.indptr, *stored)
            check_layout(folder, index.packed)
        if verify:
            check_doc_ids(folder, index)
        return index
