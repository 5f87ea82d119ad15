"""Batch search: one numba call per slice of queries, slices spread over threads.

Each thread owns a Workspace (the accumulator and per-block arrays), reused from query
to query and from call to call: the kernels leave it zeroed, so no query pays for
allocating or clearing an n_docs array. The kernels release the GIL, so a plain thread
pool gives real parallelism, and because each query's result depends only on the query
(the top-k order is total), any thread count returns identical results.
"""

from __future__ import annotations

import dataclasses
import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from indexing.blocks import DEFAULT_SHIFT, BlockMax
from indexing.postings_codec import BLOCK
from indexing.static_pruning import prune_postings

from .blockmax import blockmax_query
from .kernels import WINDOW_SHIFT, heap_drain, heaviest, prepare_query, rescore
from .packed_kernels import rescore_packed
from .taat import taat_query

TAAT, BLOCKMAX = 0, 1
ALGORITHMS = {"taat": TAAT, "blockmax": BLOCKMAX}
FIRST_ROUND = 16  # blocks scored in block-max's first round (see retrieval/blockmax.py)
NO_DEAD = np.zeros(0, dtype=np.int32)  # no deleted documents


class Workspace:
    """Scratch arrays for one thread; all-zero between queries where it matters."""

    def __init__(self, n_docs: int, n_blocks: int, heap: int, width: int) -> None:
        self.acc = np.zeros(max(n_docs, 1), dtype=np.float32)
        self.ub = np.zeros(n_blocks, dtype=np.float32)
        self.state = np.zeros(n_blocks, dtype=np.uint8)
        self.touched = np.zeros(n_blocks, dtype=np.int32)
        self.bs = np.zeros(n_blocks, dtype=np.float32)
        self.bd = np.zeros(n_blocks, dtype=np.int64)
        self.hs = np.zeros(heap, dtype=np.float32)
        self.hd = np.zeros(heap, dtype=np.int64)
        self.cands = np.zeros(heap, dtype=np.int64)
        self.q = np.zeros((2, width), dtype=np.int64)  # full and pruned query terms
        self.w = np.zeros((2, width), dtype=np.float32)
        self.cursors = np.zeros((2, width), dtype=np.int64)
        self.buf = np.zeros(BLOCK, dtype=np.int32)  # a decoded block of packed doc ids
        self.sums = np.zeros(heap, dtype=np.float32)  # candidates' scores, packed rescoring

    def fits(self, n_blocks: int, heap: int, width: int) -> bool:
        return (
            self.ub.shape[0] == n_blocks and self.hs.shape[0] >= heap and self.q.shape[1] >= width
        )


@dataclass(frozen=True)
class Knobs:
    """How to search; the defaults are exact. See Searcher for what each one does."""

    algorithm: str = "taat"  # or "blockmax": score only blocks that can reach the top k
    query_terms: int = 0  # phase one keeps only the heaviest m query terms (0: all)
    rescore: int = 0  # phase two rescores phase one's best `rescore` docs with all terms
    prune_postings: int = 0  # phase one reads only each term's largest N impacts (0: all)
    block_factor: float = 1.0  # block-max skips a block when factor * bound < theta


def no_hits(n_q: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (docs, scores, counts) arrays a batch search fills: padding (-1, 0) and 0."""
    docs = np.full((n_q, k), -1, dtype=np.int64)
    return docs, np.zeros((n_q, k), dtype=np.float32), np.zeros(n_q, dtype=np.int64)


def query_arrays(queries: sp.csr_matrix) -> tuple[tuple, int]:
    """A query matrix as the kernels read it, (indptr, terms, weights), and the most
    terms of any query."""
    queries = sp.csr_matrix(queries, dtype=np.float32)
    q = (queries.indptr.astype(np.int64), queries.indices.astype(np.int64), queries.data)
    return q, max(int(np.diff(q[0]).max()), 1)


def spread_slices(n_q: int, n_threads: int, work, chunk: int = 64) -> None:
    """work(first, last) over slices of `chunk` queries, spread over n_threads threads
    (one call, in this thread, when one thread or one slice is enough)."""
    if n_threads <= 1 or n_q <= chunk:
        work(0, n_q)
        return
    bounds = [(a, min(a + chunk, n_q)) for a in range(0, n_q, chunk)]
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        list(pool.map(lambda b: work(*b), bounds))


def _packed_arrays(index) -> tuple | None:
    """What the packed kernels read of an index's doc ids; None when not packed."""
    p = index.packed
    return None if p is None else (p.term_blocks, p.offset, p.width, p.first, p.words)


@njit(cache=True, nogil=True)
def _top(
    terms, weights, indptr, doc_ids, impacts, packed, n_docs, algo, bm, k, factor, ws,
    window_shift, dead,
):  # pragma: no cover - jitted  # fmt: skip
    # `packed is None` is decided when numba compiles: one specialisation per format.
    acc, ub, state, touched, bs, bd, hs, hd, cursors, buf, sums = ws
    if algo == BLOCKMAX:
        bm_indptr, bm_first, bm_max, bm_start, shift = bm
        return blockmax_query(
            terms, weights, indptr, doc_ids, impacts, packed, bm_indptr, bm_first, bm_max,
            bm_start, shift, n_docs, k, factor, FIRST_ROUND, acc, ub, state, touched, hs, hd,
            bs, bd, dead,
        )  # fmt: skip
    return taat_query(terms, weights, indptr, doc_ids, impacts, packed, n_docs, k, acc, hs, hd,
                      cursors, buf, window_shift, dead)  # fmt: skip


@njit(cache=True, nogil=True)
def _search_slice(
    queries, first, last, vocab_size, postings, packed, phase1, p_packed, n_docs, bm, k,
    algorithm, max_terms, n_rescore, factor, ws, q, w, cands, cursors, out_docs, out_scores,
    out_n, window_shift, dead,
):  # pragma: no cover - jitted  # fmt: skip
    indptr, doc_ids, impacts = postings
    p_indptr, p_doc_ids, p_impacts, pruned = phase1
    q_indptr, q_indices, q_data = queries
    hs, hd = ws[6], ws[7]
    for row in range(first, last):
        lo, hi = q_indptr[row], q_indptr[row + 1]
        n, negative = prepare_query(q_indices[lo:hi], q_data[lo:hi], vocab_size, q[0], w[0])
        m = heaviest(q[0, :n], w[0, :n], max_terms, q[1], w[1])
        two_phase = 0 < n_rescore and (m < n or pruned)
        cap = max(k, n_rescore) if two_phase else k
        algo = TAAT if negative else algorithm  # a negative weight breaks the bounds
        size = 0
        if m > 0:
            size = _top(q[1, :m], w[1, :m], p_indptr, p_doc_ids, p_impacts, p_packed, n_docs,
                        algo, bm, cap, factor, ws, window_shift, dead)  # fmt: skip
        if two_phase and size > 0:
            for i in range(size):
                cands[i] = hd[i]
            chosen = np.sort(cands[:size])
            if packed is None:
                size = rescore(q[0, :n], w[0, :n], indptr, doc_ids, impacts, chosen, k,
                               cursors[0], hs, hd)  # fmt: skip
            else:
                size = rescore_packed(q[0, :n], w[0, :n], indptr, impacts, packed, chosen, k,
                                      ws[10], ws[9], hs, hd)  # fmt: skip
        heap_drain(hs, hd, size, out_docs[row], out_scores[row])
        out_n[row] = size


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view(np.ndarray)  # a memmap too: numba types both as the same array
    view.flags.writeable = False
    return view


def read_only(index):
    """`index` with read-only views of the arrays the kernels read.

    numba compiles (and caches on disk) one kernel per argument type, and an array's
    mutability is part of its type. A memory-mapped index is read-only; so, with these
    views, an index built in memory and one loaded from disk share one compiled kernel
    instead of compiling (28 s on a busy 2-core machine) once for each."""
    packed = index.packed
    if packed is not None:
        fields = [f.name for f in dataclasses.fields(packed)]
        packed = dataclasses.replace(packed, **{f: _read_only(getattr(packed, f)) for f in fields})
    return dataclasses.replace(
        index,
        indptr=_read_only(index.indptr),
        doc_ids=None if index.doc_ids is None else _read_only(index.doc_ids),
        impacts=_read_only(index.impacts),
        packed=packed,
    )


class BatchSearch:
    """Searches a (n_queries, vocab) matrix against postings; block maxima on demand."""

    def __init__(self, index, block_shift: int = DEFAULT_SHIFT) -> None:
        self.index = read_only(index)
        self.block_shift = block_shift
        self.window_shift = WINDOW_SHIFT  # taat's cache-sized document windows
        self._blocks: BlockMax | None = None
        self._pruned: dict[int, object] = {}
        self._pool: queue.SimpleQueue[Workspace] = queue.SimpleQueue()

    @property
    def blocks(self) -> BlockMax:
        """Block-max metadata, derived from the postings the first time it is needed."""
        if self._blocks is None:
            self._blocks = BlockMax.of_index(self.index, self.block_shift)
        return self._blocks

    def pruned(self, max_postings: int):
        """The index cut to each term's largest `max_postings` impacts, made once."""
        if max_postings not in self._pruned:
            self._pruned[max_postings] = prune_postings(self.index, max_postings)
        return self._pruned[max_postings]

    def _workspace(self, n_blocks: int, heap: int, width: int) -> Workspace:
        try:
            ws = self._pool.get_nowait()
            if ws.fits(n_blocks, heap, width):
                return ws
        except queue.Empty:
            pass
        return Workspace(self.index.n_docs, n_blocks, heap, width)

    def run(
        self,
        queries: sp.csr_matrix,
        k: int,
        knobs: Knobs,
        n_threads: int = 1,
        chunk: int = 64,
        dead: np.ndarray = NO_DEAD,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(docs, raw scores, counts): row i holds counts[i] hits, best first; the
        documents numbered in `dead` (deleted) are never returned."""
        n_q, k = queries.shape[0], max(0, min(int(k), self.index.n_docs))
        docs, scores, counts = no_hits(n_q, k)
        if n_q == 0 or k == 0:
            return docs, scores, counts
        q, width = query_arrays(queries)
        heap = max(k, min(knobs.rescore, self.index.n_docs))
        if knobs.prune_postings and knobs.algorithm != "taat":
            raise ValueError("prune_postings works with the taat algorithm")
        if knobs.algorithm == "blockmax":
            bm = self.blocks
            arrays = (bm.indptr, bm.first_doc, bm.max_impact, bm.start, bm.shift)
        else:  # taat never reads block maxima: typed placeholders keep one compiled kernel
            bm = None
            arrays = (self.index.indptr[:1], np.zeros(0, np.int32), self.index.impacts[:0],
                      self.index.indptr[:1], 0)  # fmt: skip
        n_blocks = bm.n_blocks if bm is not None else 0
        dead = np.array(dead, dtype=np.int32)  # one type (writable int32): one compiled kernel

        def work(first: int, last: int) -> None:
            ws = self._workspace(n_blocks, heap, width)
            try:
                self._slice(q, (first, last), k, heap, knobs, arrays, ws, (docs, scores, counts),
                            dead)  # fmt: skip
            finally:
                self._pool.put(ws)

        spread_slices(n_q, n_threads, work, chunk)
        return docs, scores, counts

    def _slice(self, q, rows, k, heap, knobs, bm, ws, out, dead) -> None:
        idx = self.index
        first_index = self.pruned(knobs.prune_postings) if knobs.prune_postings else idx
        phase1 = (first_index.indptr, _doc_ids(first_index), first_index.impacts,
                  bool(knobs.prune_postings))  # fmt: skip
        work = (ws.acc, ws.ub, ws.state, ws.touched, ws.bs, ws.bd, ws.hs[:heap], ws.hd[:heap],
                ws.cursors, ws.buf, ws.sums)  # fmt: skip
        rescore_n = min(knobs.rescore, idx.n_docs)
        _search_slice(
            q, *rows, idx.vocab_size, (idx.indptr, _doc_ids(idx), idx.impacts),
            _packed_arrays(idx), phase1, _packed_arrays(first_index), idx.n_docs, bm, k,
            ALGORITHMS[knobs.algorithm], knobs.query_terms, rescore_n,
            np.float32(knobs.block_factor), work, ws.q, ws.w, ws.cands, ws.cursors,
            *out, self.window_shift, dead,
        )  # fmt: skip


_NO_DOC_IDS = np.zeros(0, dtype=np.int32)


def _doc_ids(index) -> np.ndarray:
    """The plain doc ids, or a typed stand-in for a packed index (its kernels skip them)."""
    return _NO_DOC_IDS if index.doc_ids is None else index.doc_ids
