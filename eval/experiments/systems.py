"""Named retrieval systems over one dataset, sharing work between them.

"siamese" and "inference-free" share the document vectors (only queries differ); "hybrid"
fuses the runs of the systems it names. Each system yields a Run and its statistics.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import scipy.sparse as sp

from encoders import load_encoder
from encoders.lexical import with_lexical
from eval.data.datasets import Dataset
from eval.data.run import Run
from indexing import InvertedIndex, index_vectors, query_weights
from retrieval import Searcher
from spire.core.errors import SpireError

from .cache import cached, corpus_key, dataset_key

SPARSE = ("siamese", "inference-free")
SYSTEMS = (*SPARSE, "bm25", "dense", "hybrid")
ALIASES = {"splade": "siamese", "sparse": "siamese"}


def canonical(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in SYSTEMS:
        raise SpireError(
            f"unknown system {name!r}; choose from {', '.join(SYSTEMS)} "
            f"(aliases: {', '.join(ALIASES)})"
        )
    return name


@dataclass
class SystemResult:
    system: str
    run: Run
    stats: dict = field(default_factory=dict)


@dataclass
class Systems:
    """Computes (and caches) the run of each named system on `data`."""

    data: Dataset
    model: str = "splade-tiny"
    dense_model: str = "all-MiniLM-L6-v2"
    hybrid_of: tuple[str, str] = ("inference-free", "dense")
    fusion: str = "rrf"
    weights: list[float] | None = None
    engine: str = "spire"  # or "lucene": sparse runs searched by Lucene impact search
    uri: str | None = None  # engine "milvus": searched in a Milvus collection at this URI
    impact_dtype: str = "uint8"
    k: int = 1000
    save_index: Path | None = None
    overwrite: bool = False
    show_progress: bool = True
    encoder_options: dict = field(default_factory=dict)
    _results: dict = field(default_factory=dict, repr=False)
    _docs: tuple | None = field(default=None, repr=False)
    _idf_from: str | None = field(default=None, repr=False)  # "model" (idf.json) or "corpus"

    def run(self, name: str) -> SystemResult:
        name = canonical(name)
        if name not in self._results:
            self._results[name] = self._compute(name)
        return self._results[name]

    def _compute(self, name: str) -> SystemResult:
        if name in SPARSE:
            return self._sparse(name)
        progress = {"show_progress": self.show_progress}
        if name == "bm25":
            from .baselines.bm25 import bm25_run

            key = ("bm25", dataset_key(self.data), self.k)
            run, seconds = cached(key, lambda: _timed(bm25_run, self.data, k=self.k, **progress))
            stats = {"engine": "lucene", "k1": 0.9, "b": 0.4, "seconds": seconds}
            return SystemResult(name, run, stats)
        if name == "dense":
            from .baselines.dense import dense_run

            key = ("dense", dataset_key(self.data), self.dense_model, self.k)
            run, seconds = cached(
                key, lambda: _timed(dense_run, self.data, self.dense_model, k=self.k, **progress)
            )
            return SystemResult(name, run, {"model": self.dense_model, "seconds": seconds})
        return self._hybrid()

    def _hybrid(self) -> SystemResult:
        from retrieval.fusion import fuse

        parts = [self.run(part) for part in self.hybrid_of]
        run = Run(
            fuse([p.run for p in parts], self.fusion, self.weights, depth=self.k),
            dataset=self.data.name,
        )
        return SystemResult(
            "hybrid",
            run,
            {
                "of": "+".join(self.hybrid_of),
                "fusion": self.fusion,
                "weights": self.weights or "equal",
            },
        )

    def lexical_variant(self, weight: float, params: dict | None = None) -> Systems:
        """These systems with another lexical term (encoders/lexical.py): the learnt
        document vectors, which never hold it, are shared, so nothing is re-encoded."""
        options = {**self.encoder_options, "lexical_weight": weight}
        if params is not None:
            options["lexical_params"] = params
        return replace(self, encoder_options=options, _results={}, _docs=self.documents())

    def documents(self) -> tuple[sp.csr_matrix, object, float]:
        """Learned document vectors (encoded once for both sparse modes, without the
        inference-free lexical term), the IDF, encode seconds."""
        if self._docs is None:
            options = {**self.encoder_options, "lexical_weight": 0.0}
            encoder = load_encoder(self.model, "inference-free", **options)
            idf = query_weights(encoder, self.data.corpus.texts)
            self._idf_from = encoder.idf_from
            texts, progress = self.data.corpus.texts, self.show_progress
            key = ("sparse-docs", corpus_key(self.data), _document_key(self.model, options))
            docs, seconds = cached(
                key, lambda: _timed(encoder.encode_documents, texts, show_progress=progress)
            )
            self._docs = (docs, idf, seconds)
        return self._docs

    def _sparse(self, mode: str) -> SystemResult:
        encoder = load_encoder(self.model, mode, **self.encoder_options)
        docs, idf, encode_seconds = self.documents()
        if mode == "inference-free":
            encoder.idf = idf
            start = time.perf_counter()
            docs = with_lexical(docs, encoder.tokenizer, self.data.corpus.texts, encoder.lexical)
            encode_seconds += time.perf_counter() - start
        index = index_vectors(docs, self.data.corpus.ids, encoder, self.impact_dtype)
        if self.save_index is not None:
            index.save(self.save_index, overwrite=self.overwrite)
            index = InvertedIndex.load(self.save_index)
        result = search_sparse(index, encoder, self.data, self.k, self.show_progress)
        result.stats.update(
            encode_seconds=encode_seconds, docs_per_second=index.n_docs / max(encode_seconds, 1e-9)
        )
        if mode == "inference-free":
            result.stats["idf"] = self._idf_from
        if self.engine == "lucene":
            result = self._in_lucene(index, encoder, result)
        elif self.engine == "milvus":
            from .milvus_engine import milvus_run

            if not self.uri:
                raise SpireError("--engine milvus needs --uri (a milvus-lite file or a server)")
            result = milvus_run(index, encoder, self.data, self.k, self.uri, result)
        return result

    def _in_lucene(self, index: InvertedIndex, encoder, ours: SystemResult) -> SystemResult:
        from .baselines.lucene_impact import integer_queries, lucene_impact_run

        qids = list(self.data.queries)
        queries = encoder.encode_queries([self.data.queries[q] for q in qids])
        start = time.perf_counter()
        lucene = lucene_impact_run(index, encoder.tokenizer, qids, queries, self.k)
        seconds = time.perf_counter() - start
        # Our own search under the same integer query weights, for an exact comparison.
        same = Searcher(index, encoder).search_vectors(integer_queries(queries), 10)
        agree = sum(
            _top(lucene.get(q, {}), 10) == [h.docid for h in hits]
            for q, hits in zip(qids, same, strict=True)
        )
        stats = {
            **ours.stats,
            "engine": "lucene",
            "lucene_index_and_search_seconds": seconds,
            "top10_identical_to_spire": agree / max(len(qids), 1),
        }
        stats.pop("search_ms_per_query", None)
        stats.pop("compile_s", None)
        lucene.dataset = self.data.name
        return SystemResult(ours.system, lucene, stats)


# load_encoder arguments that leave the document vectors as they are: the query side, the
# IDF, and the lexical term (added after encoding, in _sparse).
NOT_DOCUMENT_OPTIONS = ("query_max_length", "idf", "idf_source", "lexical_weight", "lexical_params")


def _document_key(model: str, options: dict) -> str:
    """The load_encoder arguments that shape document vectors, defaults filled in, so that
    `spire eval`'s explicit options and a bare Systems share one encoding."""
    bound = inspect.signature(load_encoder).bind(model, "inference-free", **options)
    bound.apply_defaults()
    same = {k: v for k, v in bound.arguments.items() if k not in NOT_DOCUMENT_OPTIONS}
    return repr(sorted(same.items()))


def _timed(work, *args, **kwargs) -> tuple:
    """(work's result, its seconds)."""
    start = time.perf_counter()
    result = work(*args, **kwargs)
    return result, time.perf_counter() - start


def _top(scores: dict[str, float], n: int) -> list[str]:
    return sorted(scores, key=lambda d: -scores[d])[:n]


def search_sparse(
    index: InvertedIndex, encoder, data: Dataset, k: int, show_progress: bool = False
) -> SystemResult:
    """Run every judged query through our searcher; the time covers query encoding too.

    The first query is searched once before the timed pass and timed apart (compile_s):
    it pays for compiling or loading the numba kernels, which the others never do."""
    searcher = Searcher(index, encoder)
    qids = list(data.queries)
    texts = [data.queries[q] for q in qids]
    start = time.perf_counter()
    if texts:
        searcher.search_vectors(searcher.encoder.encode_queries(texts[:1]), k)
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    vectors = searcher.encoder.encode_queries(texts)
    hits = searcher.search_vectors(vectors, k, show_progress=show_progress)
    seconds = time.perf_counter() - start
    run = Run.from_hits(dict(zip(qids, hits, strict=True)))
    run.dataset = data.name
    stats = {
        "engine": "spire",
        "model": index.encoder.name,
        "n_docs": index.n_docs,
        "index_bytes": index.nbytes(),
        "impact_dtype": index.impact_dtype,
        "postings_per_doc": index.postings_per_doc(),
        "postings_per_query": vectors.nnz / max(vectors.shape[0], 1),
        "search_ms_per_query": 1000 * seconds / max(len(qids), 1),
        "compile_s": compile_seconds,
    }
    return SystemResult(index.encoder.mode, run, stats)
