"""Block-max metadata over term-major postings, for rank-safe dynamic pruning.

Documents are cut into ranges of 2**shift consecutive internal numbers ("blocks"). For
each term, every block that holds at least one of its postings gets an entry: the first
of those documents (its block number is first_doc >> shift), the largest impact of the
term inside the block, and where those postings start. Since
postings are sorted by document within a term, a term's postings in one block are one
contiguous run, so an entry is enough to score exactly that run and nothing else. The
run's first document also lets the kernels over packed doc ids (retrieval/packed_kernels.py)
start decoding in the middle of a packed block, without the gaps before the run.

Entries are laid out term-major like the postings (CSR: `indptr[t]:indptr[t+1]`), and
`start` has one sentinel more than there are entries, so a run always ends at
`start[j + 1]`, even for a term's last entry (the next term starts where it ends).

The metadata is derived from the postings in one linear pass (about a second per 100M
postings), so it is rebuilt in memory when a Searcher opens an index rather than stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

DEFAULT_SHIFT = 7  # 128 documents per block


@njit(cache=True, nogil=True)
def _count_entries(indptr, doc_ids, shift, counts):  # pragma: no cover - jitted
    for t in range(indptr.shape[0] - 1):
        last = -1
        n = 0
        for p in range(indptr[t], indptr[t + 1]):
            b = doc_ids[p] >> shift
            if b != last:
                n += 1
                last = b
        counts[t] = n


@njit(cache=True, nogil=True)
def _fill_entries(
    indptr, doc_ids, impacts, shift, bm_indptr, first_doc, max_impact, start
):  # pragma: no cover - jitted
    for t in range(indptr.shape[0] - 1):
        j = bm_indptr[t] - 1
        last = -1
        for p in range(indptr[t], indptr[t + 1]):
            b = doc_ids[p] >> shift
            if b != last:
                j += 1
                first_doc[j] = doc_ids[p]
                start[j] = p
                max_impact[j] = impacts[p]
                last = b
            elif impacts[p] > max_impact[j]:
                max_impact[j] = impacts[p]
    start[start.shape[0] - 1] = indptr[indptr.shape[0] - 1]


@dataclass
class BlockMax:
    """Per-(term, block) maxima and posting offsets; see the module docstring."""

    shift: int
    n_blocks: int
    indptr: np.ndarray  # int64, vocab + 1, into the entries
    first_doc: np.ndarray  # int32 first document of each entry's run
    max_impact: np.ndarray  # same dtype as the postings' impacts
    start: np.ndarray  # int64, entries + 1: first posting of each entry, then n_postings

    @classmethod
    def build(
        cls, indptr: np.ndarray, doc_ids: np.ndarray, impacts: np.ndarray, n_docs: int,
        shift: int = DEFAULT_SHIFT,
    ) -> BlockMax:  # fmt: skip
        if not 0 <= shift <= 30:
            raise ValueError(f"block shift must be in 0..30, got {shift}")
        indptr = np.asarray(indptr, dtype=np.int64)
        counts = np.zeros(indptr.shape[0] - 1, dtype=np.int64)
        _count_entries(indptr, doc_ids, shift, counts)
        bm_indptr = np.zeros(indptr.shape[0], dtype=np.int64)
        np.cumsum(counts, out=bm_indptr[1:])
        n = int(bm_indptr[-1])
        first_doc = np.empty(n, dtype=np.int32)
        max_impact = np.empty(n, dtype=impacts.dtype)
        start = np.empty(n + 1, dtype=np.int64)
        _fill_entries(indptr, doc_ids, impacts, shift, bm_indptr, first_doc, max_impact, start)
        n_blocks = (max(int(n_docs), 1) + (1 << shift) - 1) >> shift
        return cls(shift, n_blocks, bm_indptr, first_doc, max_impact, start)

    @classmethod
    def of_index(cls, index, shift: int = DEFAULT_SHIFT) -> BlockMax:
        """Block-max metadata of an InvertedIndex."""
        # A packed index is decoded for this one linear pass (4 bytes a posting, freed
        # after); the block runs found are then read packed by the kernels.
        return cls.build(index.indptr, index.all_doc_ids(), index.impacts, index.n_docs, shift)

    @property
    def block_size(self) -> int:
        return 1 << self.shift

    @property
    def block(self) -> np.ndarray:
        """The block number of each entry."""
        return self.first_doc >> self.shift

    @property
    def n_entries(self) -> int:
        return int(self.first_doc.shape[0])

    def nbytes(self) -> int:
        arrays = (self.indptr, self.first_doc, self.max_impact, self.start)
        return int(sum(a.nbytes for a in arrays))
