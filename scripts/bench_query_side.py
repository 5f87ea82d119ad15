"""Inference-free search against bm25s (numba backend), text in, top 10 out, in one run.

Both sides index the same text (a BEIR folder's `title + " " + text`) and answer the
same queries, single thread: one query at a time (a Python call per query) and in one
batch. spire searches the inference-free index given with --index (built by `spire
index ... --mode inference-free`), or without it a word-piece BM25 index built here
(see wordpiece_index: no document model to run); bm25s indexes the corpus here with
its own tokenizer (English stopwords, no stemmer) and the numba backend. The ratio
spire QPS / bm25s QPS is printed per way of asking; >= 1 meets issue 19's goal.
spire's time is also split into the query side (tokenising and IDF weighting) and
the rest (kernel and hits).

    .venv/bin/python scripts/bench_query_side.py --data /work/shared/data/scifact [--index IDX]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from encoders import load_encoder  # noqa: E402
from encoders.lexical import Lexical, lexical_weights, mean_length  # noqa: E402
from eval.data.datasets import load_corpus, load_queries  # noqa: E402
from indexing import EncoderInfo, InvertedIndex  # noqa: E402
from retrieval import Searcher, open_index  # noqa: E402


def wordpiece_index(ids: list[str], texts: list[str], model: str = "splade-tiny"):
    """An inference-free index whose documents are their own word pieces weighted by BM25's
    saturated tf (k1 0.9, b 0.4: encoders/lexical.py) instead of the SPLADE document model:
    no model to run, so it builds in seconds on a loaded machine. The query side (the
    model's tokenizer and the corpus IDF) is exactly an inference-free index's."""
    encoder = load_encoder(model, "inference-free")
    lexical = Lexical(weight=1.0, k1=0.9, b=0.4, avgdl=mean_length(encoder.tokenizer, texts))
    docs = lexical_weights(encoder.tokenizer, texts, lexical)
    idf = encoder.fit_idf(texts)
    info = EncoderInfo.of(encoder)
    return InvertedIndex.from_matrix(docs, ids, info, "uint8", idf=idf), encoder


def timed(fn, items) -> float:
    """Seconds for fn over every item (one call each)."""
    start = time.perf_counter()
    for item in items:
        fn(item)
    return time.perf_counter() - start


def best_of(repeats: int, fn) -> float:
    return min(fn() for _ in range(repeats))


def bm25s_side(texts: list[str]):
    import bm25s

    tokenizer = bm25s.tokenization.Tokenizer(stopwords="en", stemmer=None)
    retriever = bm25s.BM25(backend="numba")
    retriever.index(tokenizer.tokenize(texts, show_progress=False), show_progress=False)

    def ask(queries: list[str]):
        tokens = tokenizer.tokenize(queries, update_vocab=False, show_progress=False)
        return retriever.retrieve(tokens, k=10, show_progress=False, n_threads=1,
                                  backend_selection="numba")  # fmt: skip

    return ask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=None,
                        help="default: a word-piece BM25 index of DATA built here")  # fmt: skip
    parser.add_argument("--data", type=Path, required=True, help="BEIR folder or corpus file")
    parser.add_argument("--queries", type=Path, default=None, help="default: DATA/queries.jsonl")
    parser.add_argument("--max-queries", type=int, default=0, help="0: all")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    queries = list(load_queries(args.queries or args.data / "queries.jsonl").values())
    queries = queries[: args.max_queries or None]
    corpus = load_corpus(args.data)
    if args.index:
        searcher = open_index(args.index)
    else:
        index, encoder = wordpiece_index(corpus.ids, corpus.texts)
        searcher = Searcher(index, encoder)
    ask_bm25s = bm25s_side(corpus.texts)
    encoder = searcher.encoder
    vectors = encoder.encode_queries(queries)
    for fn in (lambda q: searcher.search(q, 10), lambda q: ask_bm25s([q])):
        timed(fn, queries[:50])  # warm-up: jit, caches
    n, r = len(queries), args.repeats
    one_spire = best_of(r, lambda: timed(lambda q: searcher.search(q, 10), queries))
    one_bm25s = best_of(r, lambda: timed(lambda q: ask_bm25s([q]), queries))
    batch_spire = best_of(r, lambda: timed(lambda qs: searcher.batch_search(qs, 10), [queries]))
    batch_bm25s = best_of(r, lambda: timed(ask_bm25s, [queries]))
    encode_one = best_of(r, lambda: timed(lambda q: encoder.encode_queries([q]), queries))
    kernel_one = best_of(
        r, lambda: timed(lambda i: searcher.search_vectors(vectors[i], 10), range(n))
    )
    result = {
        "docs": len(corpus.ids),
        "queries": n,
        "spire_one_qps": n / one_spire,
        "bm25s_one_qps": n / one_bm25s,
        "ratio_one": one_bm25s / one_spire,
        "spire_batch_qps": n / batch_spire,
        "bm25s_batch_qps": n / batch_bm25s,
        "ratio_batch": batch_bm25s / batch_spire,
        "spire_encode_ms_per_query": 1000 * encode_one / n,
        "spire_search_vectors_ms_per_query": 1000 * kernel_one / n,
        "spire_query_terms_mean": statistics.mean(vectors.getnnz(axis=1).tolist()),
        "load": os.getloadavg(),
    }
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
