"""Corpora for scripts/bench_search.py: real encoded collections and a synthetic one.

Real: a BEIR folder encoded once by splade-tiny (documents by its SPLADE model, queries
siamese and inference-free) and cached as .npz under $SPIRE_HOME/bench (default
~/.cache/spire/bench), so reruns skip the two-minute encoding.

Synthetic: documents and queries sampled from the statistics of such encodings. A term's
document frequency, a document's length and the weights are all drawn from the observed
distributions (never uniform), so posting-list lengths and impact skew look like a real
learned sparse index, only larger.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from numba import njit

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def cache_dir() -> Path:
    home = Path(os.environ.get("SPIRE_HOME", Path.home() / ".cache" / "spire"))
    folder = home / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Encoded:
    name: str
    docs: sp.csr_matrix  # (n_docs, vocab) float32
    queries: dict[str, sp.csr_matrix]  # mode -> (n_queries, vocab) float32
    docids: list[str]


def encode_collection(name: str, model: str = "splade-tiny") -> Encoded:
    """Encode (or read from the cache) a BEIR folder under ../shared/data."""
    folder = cache_dir() / f"{name}-{model}"
    files = {"docs": folder / "docs.npz", "siamese": folder / "q-siamese.npz"}
    files["inference-free"] = folder / "q-inference-free.npz"
    if not all(p.exists() for p in files.values()):
        _encode_to(folder, name, model, files)
    docids = json.loads((folder / "docids.json").read_text())
    queries = {m: sp.load_npz(files[m]).tocsr() for m in ("siamese", "inference-free")}
    return Encoded(name, sp.load_npz(files["docs"]).tocsr(), queries, docids)


def _encode_to(folder: Path, name: str, model: str, files: dict[str, Path]) -> None:
    from encoders import load_encoder
    from eval.data.datasets import load_corpus, load_queries

    data = SHARED_DATA / name
    corpus = load_corpus(data / "corpus.jsonl")
    queries = list(load_queries(data / "queries.jsonl").values())
    free = load_encoder(model, "inference-free")
    free.fit_idf(corpus.texts)
    folder.mkdir(parents=True, exist_ok=True)
    sp.save_npz(files["docs"], free.encode_documents(corpus.texts, show_progress=True))
    sp.save_npz(files["inference-free"], free.encode_queries(queries))
    siamese = load_encoder(model, "siamese")
    sp.save_npz(files["siamese"], siamese.encode_queries(queries, show_progress=True))
    (folder / "docids.json").write_text(json.dumps(corpus.ids))


N_BUCKETS = 12  # document-frequency classes that weights are drawn within


@dataclass
class WeightPool:
    """Observed weights grouped by the document-frequency class of their term, so that a
    sampled weight keeps the real link between a term's rarity and its weight."""

    values: np.ndarray  # float32, sorted by class
    starts: np.ndarray  # int64, N_BUCKETS + 1 offsets into values

    @classmethod
    def observe(cls, matrix: sp.csr_matrix, bucket_of_term: np.ndarray) -> WeightPool:
        buckets = bucket_of_term[matrix.indices]
        order = np.argsort(buckets, kind="stable")
        starts = np.searchsorted(buckets[order], np.arange(N_BUCKETS + 1))
        return cls(matrix.data[order].astype(np.float32), starts.astype(np.int64))

    def draw(self, buckets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        lo, hi = self.starts[buckets], self.starts[buckets + 1]
        empty = hi == lo  # a class without observations falls back to the whole pool
        lo, hi = np.where(empty, 0, lo), np.where(empty, self.values.size, hi)
        return self.values[lo + (rng.random(buckets.size) * (hi - lo)).astype(np.int64)]


@dataclass
class TermStats:
    """What the sampler draws from, pooled over one or more encoded collections."""

    df_fraction: np.ndarray  # per term: share of documents holding it (0 for unused terms)
    bucket_of_term: np.ndarray  # per term: its document-frequency class
    doc_lengths: np.ndarray  # observed non-zeros per document
    doc_weights: WeightPool
    query_lengths: np.ndarray
    query_df_fraction: np.ndarray  # per term: share of queries holding it
    query_weights: WeightPool


def term_stats(collections: list[Encoded], query_mode: str = "siamese") -> TermStats:
    docs = sp.vstack([c.docs for c in collections]).tocsr()
    queries = sp.vstack([c.queries[query_mode] for c in collections]).tocsr()
    docs.eliminate_zeros()
    queries.eliminate_zeros()
    df = np.bincount(docs.indices, minlength=docs.shape[1]) / docs.shape[0]
    # Classes of equal width in log(df): rare terms, whose weights are high, stay apart.
    log_df = np.log(np.maximum(df, 1e-9))
    edges = np.linspace(np.log(df[df > 0].min()), 0.0, N_BUCKETS + 1)[1:-1]
    bucket_of_term = np.digitize(log_df, edges).astype(np.int64)
    q_lengths = np.diff(queries.indptr)
    return TermStats(
        df_fraction=df,
        bucket_of_term=bucket_of_term,
        doc_lengths=np.diff(docs.indptr),
        doc_weights=WeightPool.observe(docs, bucket_of_term),
        query_lengths=q_lengths[q_lengths > 0],
        query_df_fraction=np.bincount(queries.indices, minlength=queries.shape[1])
        / queries.shape[0],
        query_weights=WeightPool.observe(queries, bucket_of_term),
    )


@njit(cache=True)
def _draw_terms(want, cdf, seed, indptr, indices, mark):  # pragma: no cover - jitted
    """Row r gets want[r] distinct terms drawn by the cdf (fewer if draws keep repeating)."""
    np.random.seed(seed)
    pos = 0
    for r in range(want.shape[0]):
        indptr[r] = pos
        n = 0
        tries = 0
        while n < want[r] and tries < 20 * want[r]:
            t = np.searchsorted(cdf, np.random.random(), side="right")
            t = min(t, cdf.shape[0] - 1)
            tries += 1
            if mark[t] != r + 1:
                mark[t] = r + 1
                indices[pos + n] = t
                n += 1
        indices[pos : pos + n].sort()
        pos += n
    indptr[want.shape[0]] = pos


def _sample_rows(
    n: int,
    lengths: np.ndarray,
    term_probs: np.ndarray,
    weights: WeightPool,
    bucket_of_term: np.ndarray,
    rng: np.random.Generator,
) -> sp.csr_matrix:
    """n rows: a length drawn from `lengths`, that many distinct terms drawn by
    `term_probs`, and for each a weight drawn from the pool of the term's class."""
    cdf = np.cumsum(term_probs)
    cdf /= cdf[-1]
    want = rng.choice(lengths, size=n).astype(np.int64)
    indptr = np.zeros(n + 1, dtype=np.int64)
    indices = np.zeros(int(want.sum()), dtype=np.int32)
    mark = np.zeros(cdf.size, dtype=np.int64)
    _draw_terms(want, cdf, int(rng.integers(2**31)), indptr, indices, mark)
    indices = indices[: indptr[-1]]
    data = weights.draw(bucket_of_term[indices], rng).astype(np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(n, cdf.size))


def synthetic(
    stats: TermStats, n_docs: int, n_queries: int, seed: int = 0
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """A synthetic (docs, queries) pair with the real df, length and weight distributions.

    A term is drawn in proportion to its observed document frequency (in queries: its
    observed query frequency, among terms that have postings), so frequent terms keep
    their long posting lists; a weight is drawn among real weights of terms as frequent.
    """
    rng = np.random.default_rng(seed)
    b = stats.bucket_of_term
    docs = _sample_rows(n_docs, stats.doc_lengths, stats.df_fraction, stats.doc_weights, b, rng)
    q_probs = stats.query_df_fraction * (stats.df_fraction > 0)
    queries = _sample_rows(n_queries, stats.query_lengths, q_probs, stats.query_weights, b, rng)
    return docs, queries
