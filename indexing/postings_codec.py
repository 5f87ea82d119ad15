"""Compressed doc ids ("bitpack"): delta-coded, bit-packed blocks of 128 postings per term.

A term's postings are cut into blocks of BLOCK consecutive postings (the last block of a
term may be shorter). Each block keeps its first doc id as is (`first`) and the gaps to
the next ones, minus one (doc ids ascend strictly, so a gap is at least 1), packed
little-endian at the block's bit width: the bits of its largest gap - 1. A block starts
on a fresh uint32 word, so block j can be decoded on its own from `offset[j]`; `words`
ends with one spare zero word so that the decoder may always read a word pair.

Impacts are not touched: at uint8 they are already one byte, and bit-packing them per
block saves nothing on real indexes (a block's largest impact is nearly always >= 128).

Only `first` (int32), `width` (uint8) and `words` (uint32) are stored. Which blocks
belong to which term, and where each starts in `words`, follow from the postings' indptr
and the widths, so they are derived on load (`term_blocks`, `offset`) in O(blocks).
A block's gaps all have one width, so any gap can be read in place (`gap_at`); the
kernels (retrieval/packed_kernels.py) decode as they score, or a block at a time into a
128-entry buffer (`decode_block`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

BLOCK_SHIFT = 7
BLOCK = 1 << BLOCK_SHIFT  # postings per block, as in Lucene
MAX_WIDTH = 31  # a gap - 1 is below 2**31: doc ids are int32


@njit(cache=True, nogil=True, inline="always")
def decode_block(words, offset, width, first, n, out):  # pragma: no cover - jitted
    """Write the n doc ids of one block into out[:n].

    Indices are unsigned on purpose: numba checks a signed index for wrap-around (a
    negative one counts from the end), and that check alone doubled the decode time.
    """
    d = np.int64(first)
    out[0] = d
    mask = (np.uint64(1) << np.uint64(width)) - np.uint64(1)
    for i in range(1, n):
        d += gap_at(words, offset, width, mask, i)
        out[np.uint64(i)] = d


@njit(cache=True, nogil=True, inline="always")
def gap_at(words, offset, width, mask, i):  # pragma: no cover - jitted
    """doc[i] - doc[i - 1] (i >= 1) in the block whose gaps start at words[offset]."""
    bit = np.uint64(i - 1) * np.uint64(width)
    w = np.uint64(offset) + (bit >> np.uint64(5))
    pair = np.uint64(words[w]) | (np.uint64(words[w + np.uint64(1)]) << np.uint64(32))
    return np.int64((pair >> (bit & np.uint64(31))) & mask) + 1


@njit(cache=True, nogil=True)
def _widths(indptr, doc_ids, term_blocks, width, first, n_words):  # pragma: no cover - jitted
    """Each block's first doc and bit width; returns the words the blocks need, or -1
    when a term's doc ids do not ascend strictly (gaps of 0 or less cannot be packed)."""
    total = 0
    for t in range(indptr.shape[0] - 1):
        lo, hi = indptr[t], indptr[t + 1]
        j = term_blocks[t]
        for start in range(lo, hi, BLOCK):
            stop = min(start + BLOCK, hi)
            first[j] = doc_ids[start]
            top = 0
            for p in range(start + 1, stop):
                gap = np.int64(doc_ids[p]) - doc_ids[p - 1]
                if gap < 1:
                    return -1
                top = max(top, gap - 1)
            b = 0
            while top >> b:
                b += 1
            width[j] = b
            n_words[j] = ((stop - start - 1) * b + 31) >> 5
            total += n_words[j]
            j += 1
    return total


@njit(cache=True, nogil=True)
def _pack(indptr, doc_ids, term_blocks, width, offset, words):  # pragma: no cover - jitted
    for t in range(indptr.shape[0] - 1):
        lo, hi = indptr[t], indptr[t + 1]
        j = term_blocks[t]
        for start in range(lo, hi, BLOCK):
            bit = 0
            for p in range(start + 1, min(start + BLOCK, hi)):
                value = np.uint64(doc_ids[p] - doc_ids[p - 1] - 1)
                w = offset[j] + (bit >> 5)
                shifted = value << np.uint64(bit & 31)
                words[w] |= np.uint32(shifted & np.uint64(0xFFFFFFFF))
                words[w + 1] |= np.uint32(shifted >> np.uint64(32))
                bit += width[j]
            j += 1


@njit(cache=True, nogil=True)
def _decode_all(indptr, term_blocks, offset, width, first, words, out):  # pragma: no cover
    for t in range(indptr.shape[0] - 1):
        lo, hi = indptr[t], indptr[t + 1]
        j = term_blocks[t]
        for start in range(lo, hi, BLOCK):
            n = min(BLOCK, hi - start)
            decode_block(words, offset[j], width[j], first[j], n, out[start : start + n])
            j += 1


@njit(cache=True, nogil=True)
def _first_fault(indptr, term_blocks, offset, width, first, words, n_docs):  # pragma: no cover
    """0 when every term's doc ids ascend within 0..n_docs-1; else 1 when the blocks'
    first ids do not (checked first, so that they can be trusted next), 2 when packed gaps
    overshoot the next block's first id or n_docs."""
    for t in range(indptr.shape[0] - 1):
        last = -1
        for j in range(term_blocks[t], term_blocks[t + 1]):
            if not last < first[j] < n_docs:
                return 1
            last = first[j]
    buf = np.empty(BLOCK, dtype=np.int64)
    for t in range(indptr.shape[0] - 1):
        lo, hi = indptr[t], indptr[t + 1]
        j = term_blocks[t]
        for start in range(lo, hi, BLOCK):
            n = min(BLOCK, hi - start)
            decode_block(words, offset[j], width[j], first[j], n, buf)
            last = buf[n - 1]
            if last >= n_docs or (start + n < hi and last >= first[j + 1]):
                return 2
            j += 1
    return 0


def term_blocks_of(indptr: np.ndarray) -> np.ndarray:
    """int64 (vocab + 1): the blocks of term t are term_blocks[t]:term_blocks[t + 1]."""
    counts = (np.diff(np.asarray(indptr, dtype=np.int64)) + BLOCK - 1) >> BLOCK_SHIFT
    out = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def block_sizes(indptr: np.ndarray, term_blocks: np.ndarray) -> np.ndarray:
    """Postings in each block: BLOCK, except a term's last block, which holds the rest."""
    sizes = np.full(int(term_blocks[-1]), BLOCK, dtype=np.int64)
    df = np.diff(np.asarray(indptr, dtype=np.int64))
    has = df > 0
    sizes[term_blocks[1:][has] - 1] = df[has] - BLOCK * (np.diff(term_blocks)[has] - 1)
    return sizes


def offsets_of(indptr: np.ndarray, term_blocks: np.ndarray, width: np.ndarray) -> np.ndarray:
    """int64 (blocks + 1): where each block's gaps start in `words`, then the end."""
    bits = (block_sizes(indptr, term_blocks) - 1) * np.asarray(width, dtype=np.int64)
    out = np.zeros(bits.size + 1, dtype=np.int64)
    np.cumsum((bits + 31) >> 5, out=out[1:])
    return out


@dataclass
class PackedDocIds:
    """The doc ids of term-major postings in bit-packed blocks; see the module docstring."""

    first: np.ndarray  # int32 per block: its first doc id
    width: np.ndarray  # uint8 per block: bits per gap
    words: np.ndarray  # uint32: the packed gaps, then one spare zero word
    term_blocks: np.ndarray  # int64, vocab + 1 (derived)
    offset: np.ndarray  # int64, blocks + 1 (derived)

    STORED = ("first", "width", "words")

    @classmethod
    def encode(cls, indptr: np.ndarray, doc_ids: np.ndarray) -> PackedDocIds:
        """Pack doc ids that ascend strictly within each term's range of indptr."""
        indptr = np.asarray(indptr, dtype=np.int64)
        doc_ids = np.asarray(doc_ids, dtype=np.int32)
        term_blocks = term_blocks_of(indptr)
        n = int(term_blocks[-1])
        width = np.zeros(n, dtype=np.uint8)
        first = np.zeros(n, dtype=np.int32)
        n_words = np.zeros(n, dtype=np.int64)
        total = _widths(indptr, doc_ids, term_blocks, width, first, n_words)
        if total < 0:
            raise ValueError("doc ids must ascend strictly within each term")
        offset = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(n_words, out=offset[1:])
        words = np.zeros(total + 1, dtype=np.uint32)
        _pack(indptr, doc_ids, term_blocks, width, offset, words)
        return cls(first, width, words, term_blocks, offset)

    @classmethod
    def from_stored(
        cls, indptr: np.ndarray, first: np.ndarray, width: np.ndarray, words: np.ndarray
    ) -> PackedDocIds:
        """Re-derive the block layout of stored arrays (checked by `layout_problem`)."""
        term_blocks = term_blocks_of(indptr)
        offset = np.zeros(1, dtype=np.int64)
        n = int(term_blocks[-1])
        if width.shape == (n,) and (n == 0 or int(width.max()) <= MAX_WIDTH):
            offset = offsets_of(indptr, term_blocks, width)
        return cls(first, width, words, term_blocks, offset)

    def layout_problem(self) -> tuple[str, str]:
        """(stored array, why) when the stored arrays cannot describe these postings;
        ("", "") when they can. O(blocks): the decoder then stays inside `words`."""
        n = int(self.term_blocks[-1])
        for attr in ("first", "width"):
            if getattr(self, attr).shape != (n,):
                return attr, f"{getattr(self, attr).size} entries, the postings have {n} blocks"
        if n and int(self.width.max()) > MAX_WIDTH:
            return "width", f"a block of {int(self.width.max())}-bit gaps (at most {MAX_WIDTH})"
        if self.words.shape != (int(self.offset[-1]) + 1,):
            return "words", f"{self.words.size} words, the blocks need {int(self.offset[-1]) + 1}"
        return "", ""

    def decode(self, indptr: np.ndarray) -> np.ndarray:
        """All doc ids, int32, in posting order (O(postings) memory: not for search)."""
        indptr = np.asarray(indptr, dtype=np.int64)
        out = np.empty(int(indptr[-1]), dtype=np.int32)
        _decode_all(indptr, self.term_blocks, self.offset, self.width, self.first, self.words, out)
        return out

    def decode_term(self, indptr: np.ndarray, t: int) -> np.ndarray:
        """The doc ids of term t."""
        lo, hi = int(indptr[t]), int(indptr[t + 1])
        sub = np.array([0, hi - lo], dtype=np.int64)
        a, b = int(self.term_blocks[t]), int(self.term_blocks[t + 1])
        out = np.empty(hi - lo, dtype=np.int32)
        _decode_all(sub, np.array([0, b - a], dtype=np.int64), self.offset[a : b + 1],
                    self.width[a:b], self.first[a:b], self.words, out)  # fmt: skip
        return out

    def fault(self, indptr: np.ndarray, n_docs: int) -> str:
        """ "" when the doc ids ascend within each term and stay below n_docs (O(postings)
        time, O(1) memory); else the stored array at fault ("first" or "words")."""
        code = _first_fault(np.asarray(indptr, dtype=np.int64), self.term_blocks, self.offset,
                            self.width, self.first, self.words, n_docs)  # fmt: skip
        return ("", "first", "words")[code]

    def nbytes(self) -> int:
        """Bytes held for search, the derived layout included."""
        arrays = (self.first, self.width, self.words, self.term_blocks, self.offset)
        return int(sum(a.nbytes for a in arrays))

    def stored_nbytes(self) -> int:
        return int(self.first.nbytes + self.width.nbytes + self.words.nbytes)
