"""numba kernels over bit-packed doc ids (indexing/postings_codec.py).

They mirror the uncompressed kernels in kernels.py and blockmax.py step for step, and add
the same float32 contributions in the same query-term order, so every result equals the
uncompressed search to the bit. Impacts stay a plain array indexed by posting number;
only doc ids are decoded, within one block of 128 postings at a time: as the scoring
loop goes where it reads a whole block or a run whose first doc is known, else into a
128-entry buffer. Since a block's gaps have one width, the gap of any posting is read
directly (gap_at); only the running sum that turns gaps into docs is sequential.

Hot loops index with unsigned integers: numba checks a signed index for wrap-around,
and on SciFact that check alone made the packed kernel 1.3x the uncompressed one.

`packed` is the tuple (term_blocks, offset, width, first, words) of a PackedDocIds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from indexing.postings_codec import BLOCK, BLOCK_SHIFT, decode_block, gap_at

from .kernels import _gallop, contribution, heap_push, offer_docs


@njit(cache=True, nogil=True, inline="always")
def _scatter(w, buf, impacts, start, a, b, acc):  # pragma: no cover - jitted
    """acc[doc] += w * impact for postings start+a .. start+b-1, whose docs are buf[a:b]."""
    base = np.uint64(start)
    for x in range(a, b):
        ux = np.uint64(x)
        acc[np.uint64(buf[ux])] += contribution(w, impacts[base + ux])


@njit(cache=True, nogil=True, inline="always")
def _scatter_gaps(w, words, offset, width, d, x, n, impacts, p, acc):  # pragma: no cover
    """Postings p..p+n-1 sit at positions x..x+n-1 (x >= 1) of one packed block, right
    after a posting of doc d: add their contributions, decoding as it goes (no round
    trip through a buffer: 0.89 instead of 1.06 ns a posting on SciFact); returns the
    last doc."""
    mask = (np.uint64(1) << np.uint64(width)) - np.uint64(1)
    base = np.uint64(p)
    for y in range(n):
        d += gap_at(words, offset, width, mask, x + y)
        acc[np.uint64(d)] += contribution(w, impacts[base + np.uint64(y)])
    return d


@njit(cache=True, nogil=True, inline="always")
def _block_of(packed, lo, hi, t, p, buf, held):  # pragma: no cover - jitted
    """Decode into buf, unless block `held` is that one, the block of term t (postings
    lo:hi) holding posting p; returns (its first posting, its size, its number)."""
    term_blocks, offset, width, first, words = packed
    rel = p - lo
    j = term_blocks[t] + (rel >> BLOCK_SHIFT)
    start = p - (rel & (BLOCK - 1))
    n = min(BLOCK, hi - start)
    if j != held:
        decode_block(words, offset[j], width[j], first[j], n, buf)
    return start, n, j


@njit(cache=True, nogil=True)
def add_window_packed(
    t, w, indptr, impacts, packed, p, limit, n_docs, acc, buf
):  # pragma: no cover
    """kernels.add_window over packed doc ids: add term t's postings from p on with
    doc < limit; returns where they stop."""
    term_blocks, offset, width, first, words = packed
    lo, hi = indptr[t], indptr[t + 1]
    if p >= hi:
        return p
    j = term_blocks[t] + ((p - lo) >> BLOCK_SHIFT)
    start = p - ((p - lo) & (BLOCK - 1))
    a = p - start
    while start < hi:
        if first[j] >= limit:
            return start + a  # the block starts past the window: not even decoded
        n = min(BLOCK, hi - start)
        after = first[j + 1] if start + n < hi else n_docs  # a bound past the block's docs
        if a == 0 and after <= limit:  # nearly always: the whole block, inside the window
            acc[first[j]] += contribution(w, impacts[start])
            _scatter_gaps(w, words, offset[j], width[j], first[j], 1, n - 1, impacts, start + 1,
                          acc)  # fmt: skip
            start += BLOCK
            j += 1
            continue
        # At a window's edge: the block started in the previous window, or ends past this one.
        decode_block(words, offset[j], width[j], first[j], n, buf)
        if buf[n - 1] < limit:
            _scatter(w, buf, impacts, start, a, n, acc)
        else:
            b = a + np.searchsorted(buf[a:n], limit)
            _scatter(w, buf, impacts, start, a, b, acc)
            return start + b
        start += BLOCK
        j += 1
        a = 0
    return hi


@njit(cache=True, nogil=True)
def revisit_packed(terms, indptr, packed, cursors, k, acc, hs, hd, size, buf):  # pragma: no cover
    """kernels.revisit over packed doc ids."""
    for i in range(terms.shape[0]):
        t = terms[i]
        lo, hi = indptr[t], indptr[t + 1]
        p, stop, held = cursors[0, i], cursors[1, i], -1
        while p < stop:
            start, n, held = _block_of(packed, lo, hi, t, p, buf, held)
            end = min(start + n, stop)
            size = offer_docs(acc, buf[p - start : end - start], k, hs, hd, size)
            p = end
    return size


@njit(cache=True, nogil=True)
def score_runs_packed(
    terms, weights, indptr, impacts, packed, bm_indptr, bm_first, shift, bm_start, state,
    chosen, acc,
):  # pragma: no cover - jitted  # fmt: skip
    """blockmax._score_chosen over packed doc ids. A run knows its first doc, and a gap
    can be read at any position of a block (fixed width), so a run is decoded from where
    it starts: none of the gaps before it in its packed block (a block is ~24 runs long
    on SciFact, and a run a handful of postings)."""
    term_blocks, offset, width, first, words = packed
    for i in range(terms.shape[0]):
        t = terms[i]
        w = weights[i]
        lo = indptr[t]
        for e in range(bm_indptr[t], bm_indptr[t + 1]):
            d = bm_first[e]
            if state[d >> shift] != chosen:
                continue
            p, stop = bm_start[e], bm_start[e + 1]
            j = term_blocks[t] + ((p - lo) >> BLOCK_SHIFT)
            x = ((p - lo) & (BLOCK - 1)) + 1  # the position of posting p + 1 in block j
            acc[d] += contribution(w, impacts[p])
            p += 1
            while p < stop:
                if x == BLOCK:  # the run goes on in the next block, whose first doc is stored
                    j += 1
                    d = first[j]
                    acc[d] += contribution(w, impacts[p])
                    p, x = p + 1, 1
                    continue
                n = min(stop - p, BLOCK - x)
                d = _scatter_gaps(w, words, offset[j], width[j], d, x, n, impacts, p, acc)
                p, x = p + n, x + n


@njit(cache=True, nogil=True)
def rescore_packed(
    terms, weights, indptr, impacts, packed, cands, k, sums, buf, hs, hd
):  # pragma: no cover - jitted
    """kernels.rescore over packed doc ids, a term at a time: each term walks the
    candidates (ascending) and its blocks together, decoding a block only as far as the
    candidates in it need, once. Every candidate's sum still runs in query-term order
    (sums[c] starts at 0), so a rescored document has exactly its exhaustive score.
    Per candidate and term instead, every lookup decoded a whole block: 2x slower."""
    term_blocks, offset, width, first, words = packed
    n = cands.shape[0]
    sums[:n] = 0
    for i in range(terms.shape[0]):
        t, w = terms[i], weights[i]
        lo, hi = indptr[t], indptr[t + 1]
        j, end = term_blocks[t], term_blocks[t + 1]
        # buf[:done] holds block j's first docs, the last of them `last`; x is where the
        # previous lookup ended (lookups only move forward)
        done = x = last = 0
        for c in range(n):
            d = cands[c]
            if j + 1 < end and first[j + 1] <= d:  # move to the last block starting <= d
                j = _gallop(first, j + 1, end, d + 1) - 1
                done = x = 0
            if j == end or first[j] > d:
                continue  # the term is empty, or d precedes its first doc
            base = lo + ((j - term_blocks[t]) << BLOCK_SHIFT)
            if done == 0:
                last = buf[0] = first[j]
                done = 1
            if last < d:  # decode on, up to d (the running doc stays in a register)
                size = min(BLOCK, hi - base)
                mask = (np.uint64(1) << np.uint64(width[j])) - np.uint64(1)
                while done < size and last < d:
                    last += gap_at(words, offset[j], width[j], mask, done)
                    buf[np.uint64(done)] = last
                    done += 1
            while x < done and buf[np.uint64(x)] < d:
                x += 1
            if x < done and buf[np.uint64(x)] == d:
                sums[c] += contribution(w, impacts[base + x])
    size = 0
    for c in range(n):
        s = sums[c]
        if s > 0 and (size < k or s >= hs[0]):
            size = heap_push(hs, hd, size, k, s, cands[c])
    return size
