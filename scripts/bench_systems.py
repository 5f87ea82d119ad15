"""The systems scripts/bench_search.py compares, behind one small interface.

Every system gets the same integer document impacts (our uint8 index) and the same
integer query weights, so all of them compute the same dot products and an exact system
scores recall 1.0. `batch` returns the top-k internal doc numbers of every query (the
throughput number), `one` searches a single query (the latency numbers).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from indexing import InvertedIndex
from retrieval import Searcher


def folder_bytes(path: Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _rows(queries: sp.csr_matrix):
    for i in range(queries.shape[0]):
        lo, hi = queries.indptr[i], queries.indptr[i + 1]
        yield queries.indices[lo:hi], queries.data[lo:hi]


class System:
    name = "?"
    exact = True
    build_s = 0.0
    size_bytes = 0
    disk_bytes: int | None = None  # the index folder on disk, where the row measures it

    def batch(self, queries: sp.csr_matrix, k: int) -> list[np.ndarray]:
        return [self.one(queries[i], k) for i in range(queries.shape[0])]

    def one(self, query: sp.csr_matrix, k: int) -> np.ndarray:
        raise NotImplementedError


class Ours(System):
    def __init__(self, index: InvertedIndex, label: str, exact: bool = True,
                 prune: int = 0, disk_dir: Path | None = None, **knobs) -> None:  # fmt: skip
        """`index` as searched; `disk_dir`: also save it there and measure the folder."""
        from indexing.static_pruning import prune_postings

        start = time.perf_counter()
        index = prune_postings(index, prune) if prune else index
        self.searcher = Searcher(index, encoder=object(), n_threads=1, **knobs)
        self.size_bytes = index.nbytes()
        if knobs.get("algorithm") == "blockmax":  # derive the block maxima: part of building
            self.size_bytes += self.searcher.engine.blocks.nbytes()
        self.build_s = time.perf_counter() - start
        self.name, self.exact = label, exact
        if disk_dir is not None:
            self.disk_bytes = folder_bytes(index.save(disk_dir, overwrite=True))

    def batch(self, queries, k):
        docs, _, counts = self.searcher.search_arrays(queries, k)
        return [docs[i, :n] for i, n in enumerate(counts)]

    def one(self, query, k):
        docs, _, counts = self.searcher.search_arrays(query, k)
        return docs[0, : counts[0]]


class Scipy(System):
    """Plain scipy: q @ D.T as a sparse product, then argpartition and a sort."""

    name = "scipy (q @ D.T + argpartition)"

    def __init__(self, docs: sp.csr_matrix) -> None:
        start = time.perf_counter()
        self.docs_t = docs.T.tocsr()  # vocab x docs: what the row-times-matrix product wants
        self.build_s = time.perf_counter() - start
        d = self.docs_t
        self.size_bytes = d.data.nbytes + d.indices.nbytes + d.indptr.nbytes

    def one(self, query, k):
        scores = (query @ self.docs_t).toarray().ravel()
        k = min(k, scores.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]
        return top[scores[top] > 0]


class SparseDotTopn(System):
    name = "sparse-dot-topn"

    def __init__(self, docs: sp.csr_matrix) -> None:
        from sparse_dot_topn import sp_matmul_topn

        self.matmul = sp_matmul_topn
        start = time.perf_counter()
        self.docs_t = docs.T.tocsr()
        self.build_s = time.perf_counter() - start
        d = self.docs_t
        self.size_bytes = d.data.nbytes + d.indices.nbytes + d.indptr.nbytes

    def batch(self, queries, k):
        out = self.matmul(queries, self.docs_t, top_n=k, sort=True, n_threads=None)
        return [out.indices[out.indptr[i] : out.indptr[i + 1]] for i in range(out.shape[0])]

    def one(self, query, k):
        return self.batch(query, k)[0]


class Seismic(System):
    exact = False

    def __init__(self, docs: sp.csr_matrix, workdir: Path, query_cut: int, heap_factor: float,
                 n_postings: int, build_threads: int = 2) -> None:  # fmt: skip
        import seismic

        self.string = seismic.get_seismic_string()
        self.query_cut, self.heap_factor = query_cut, heap_factor
        self.name = f"seismic (query_cut={query_cut}, heap_factor={heap_factor})"
        start = time.perf_counter()
        dataset = seismic.SeismicDataset()
        ids = [str(i) for i in range(docs.shape[0])]
        dataset.add_documents_by_id(
            ids, docs.indices.astype(np.int64), docs.data.astype(np.float32),
            docs.indptr.astype(np.int64),
        )  # fmt: skip
        self.index = seismic.SeismicIndex.build_from_dataset(
            dataset, n_postings=n_postings, num_threads=build_threads
        )  # building may use both cores: only search is single-threaded
        self.build_s = time.perf_counter() - start
        self.index.save(str(workdir / "seismic"))
        self.size_bytes = folder_bytes(workdir / "seismic.index.seismic")

    def configure(self, query_cut: int, heap_factor: float) -> Seismic:
        self.query_cut, self.heap_factor = query_cut, heap_factor
        self.name = f"seismic (query_cut={query_cut}, heap_factor={heap_factor})"
        return self

    def _args(self, queries):
        terms = [t.astype(str).astype(self.string) for t, _ in _rows(queries)]
        weights = [w.astype(np.float32) for _, w in _rows(queries)]
        return terms, weights

    def batch(self, queries, k):
        terms, weights = self._args(queries)
        qids = np.array([str(i) for i in range(queries.shape[0])], dtype=self.string)
        res = self.index.batch_search(qids, terms, weights, k, self.query_cut, self.heap_factor,
                                      num_threads=1)  # fmt: skip
        by_qid = {r[0][0]: r for r in res if r}  # results do not come back in query order
        return [np.array([int(d) for _, _, d in by_qid.get(str(i), [])], dtype=np.int64)
                for i in range(queries.shape[0])]  # fmt: skip

    def one(self, query, k):
        terms, weights = self._args(query)
        res = self.index.search("q", terms[0], weights[0], k, self.query_cut, self.heap_factor)
        return np.array([int(d) for _, _, d in res], dtype=np.int64)


class Bmp(System):
    def __init__(self, docs: sp.csr_matrix, workdir: Path, alpha: float = 1.0, beta: float = 1.0,
                 bsize: int = 32) -> None:  # fmt: skip
        import bmp

        path = workdir / "index.bmp"
        start = time.perf_counter()
        indexer = bmp.Indexer(str(path), bsize, False)
        for i, (terms, weights) in enumerate(_rows(docs)):
            names, values = terms.astype(str).tolist(), weights.astype(int).tolist()
            vector = dict(zip(names, values, strict=True))
            indexer.add_document(str(i), vector)
        indexer.finish()
        self.searcher = bmp.Searcher(str(path))
        self.build_s = time.perf_counter() - start
        self.size_bytes = folder_bytes(path)
        self.configure(alpha, beta)

    def configure(self, alpha: float, beta: float) -> Bmp:
        self.alpha, self.beta = alpha, beta
        self.exact = alpha == 1.0 and beta == 1.0
        self.name = f"bmp (alpha={alpha}, beta={beta})"
        return self

    def one(self, query, k):
        terms, weights = next(_rows(query))
        q = dict(zip(terms.astype(str).tolist(), weights.astype(int).tolist(), strict=True))
        docnos, _ = self.searcher.search(q, k=k, alpha=self.alpha, beta=self.beta)
        return np.array([int(d) for d in docnos], dtype=np.int64)


class _Prepared:
    """Pyserini asks its query encoder for the query; ours are term -> int dicts already."""

    def __init__(self) -> None:
        self.vectors: dict[str, dict[str, int]] = {}

    def encode(self, qid: str) -> dict[str, int]:
        return self.vectors[qid]


class Lucene(System):
    name = "Lucene impact (Pyserini)"

    def __init__(self, index: InvertedIndex, tokenizer, workdir: Path) -> None:
        from eval.experiments.baselines.lucene_impact import build_lucene_index
        from eval.experiments.baselines.pyserini_env import pyserini
        from indexing.export import id_to_token

        self.vocab = id_to_token(tokenizer, index.vocab_size)
        start = time.perf_counter()
        lucene_dir = build_lucene_index(index, tokenizer, workdir)
        self.build_s = time.perf_counter() - start
        shutil.rmtree(workdir / "collection", ignore_errors=True)
        self.size_bytes = self.disk_bytes = folder_bytes(lucene_dir)
        self.encoder = _Prepared()
        self.searcher = pyserini().LuceneImpactSearcher(str(lucene_dir), self.encoder)

    def _register(self, queries) -> list[str]:
        qids = []
        for i, (terms, weights) in enumerate(_rows(queries)):
            qid = f"q{i}"
            self.encoder.vectors[qid] = {
                self.vocab[t]: int(w) for t, w in zip(terms, weights, strict=True)
            }
            qids.append(qid)
        return qids

    def batch(self, queries, k):
        qids = self._register(queries)
        res = self.searcher.batch_search(qids, qids, k=k, threads=1)
        return [np.array([int(h.docid) for h in res.get(q, [])], dtype=np.int64) for q in qids]

    def one(self, query, k):
        [qid] = self._register(query)
        return np.array([int(h.docid) for h in self.searcher.search(qid, k=k)], dtype=np.int64)


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="spire-bench-"))
