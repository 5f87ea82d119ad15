"""Where exact search's time goes (`scripts/bench_search.py --profile`): the exhaustive
kernel against a pass that only reads the same postings, with and without the 1 MiB
accumulator windows, and over packed doc ids (`index` must be the plain layout)."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from numba import njit

from indexing import InvertedIndex
from retrieval import Searcher


@njit(cache=True, nogil=True)
def _read_only(terms, weights, indptr, doc_ids, impacts):  # pragma: no cover - jitted
    """Reads every posting of the query (doc id and impact) and scatters nothing."""
    total = np.float32(0)
    mix = 0
    for i in range(terms.shape[0]):
        w = weights[i]
        for p in range(indptr[terms[i]], indptr[terms[i] + 1]):
            total += w * np.float32(impacts[p])
            mix ^= doc_ids[p]
    return total, mix


def profile(index: InvertedIndex, queries: sp.csr_matrix) -> str:
    lengths = np.diff(index.indptr)
    rows = [(queries.indices[a:b].astype(np.int64), queries.data[a:b].astype(np.float32))
            for a, b in zip(queries.indptr[:-1], queries.indptr[1:], strict=True)]  # fmt: skip
    postings = sum(int(lengths[t].sum()) for t, _ in rows)
    _read_only(*rows[0], index.indptr, index.doc_ids, index.impacts)
    start = time.perf_counter()
    for terms, weights in rows:
        _read_only(terms, weights, index.indptr, index.doc_ids, index.impacts)
    read_ns = 1e9 * (time.perf_counter() - start) / postings
    searcher = Searcher(index, encoder=object())
    taat = {}
    for shift in (30, searcher.engine.window_shift):  # one accumulator, then windows
        searcher.engine.window_shift = shift
        searcher.search_arrays(queries[:3], 10)
        start = time.perf_counter()
        searcher.search_arrays(queries, 10)
        taat[shift] = 1e9 * (time.perf_counter() - start) / postings
    windowed = taat[searcher.engine.window_shift]
    packed = Searcher(index.with_compression("bitpack"), encoder=object())
    packed.search_arrays(queries[:3], 10)
    start = time.perf_counter()
    packed.search_arrays(queries, 10)
    packed_ns = 1e9 * (time.perf_counter() - start) / postings
    return (
        f"{postings / len(rows):,.0f} postings a query | read only {read_ns:.2f} ns/posting "
        f"({5 / read_ns:.2f} GB/s of doc ids + impacts) | taat, one accumulator "
        f"{taat[30]:.2f} ns | taat, 1 MiB windows {windowed:.2f} ns/posting "
        f"({windowed * postings / len(rows) / 1e6:.2f} ms a query) | packed doc ids, "
        f"1 MiB windows {packed_ns:.2f} ns/posting"
    )
