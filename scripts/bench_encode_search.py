"""Encoding throughput and search latency of splade-tiny, side by side with the anchors.

Encoding: spire's SpladeEncoder against sentence-transformers' SparseEncoder on the same
weights and the same documents (max_length 256), with the max-abs difference of the vectors.
Search: spire's exact kernel against plain scipy (`q @ D.T` + argpartition), one query at
a time, on the same index, for siamese and inference-free queries.

    .venv/bin/python scripts/bench_encode_search.py --data ../shared/data/scifact [--docs N]

sentence-transformers is optional (`pip install sentence-transformers==6.2.0 -c constraints.txt`).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp

from encoders import load_encoder
from encoders.registry import resolve
from eval.data.datasets import load_dataset
from indexing import EncoderInfo, InvertedIndex
from retrieval import Searcher


def bench_encoding(texts: list[str], model: str) -> tuple[sp.csr_matrix, list[list]]:
    encoder = load_encoder(model, "siamese")
    encoder.encode_documents(texts[:16])  # warm-up
    start = time.perf_counter()
    ours = encoder.encode_documents(texts, show_progress=True)
    ours_s = time.perf_counter() - start
    rows = [["spire SpladeEncoder", f"{len(texts) / ours_s:.1f}", "1.00", "0"]]
    try:
        from sentence_transformers import SparseEncoder
    except ImportError:
        rows.append(["sentence-transformers SparseEncoder", "not installed", "", ""])
        return ours, rows
    st = SparseEncoder(resolve(model), device="cpu")
    st.max_seq_length = encoder.doc_max_length
    st.encode_document(texts[:16], batch_size=32)
    start = time.perf_counter()
    theirs = st.encode_document(
        texts, batch_size=32, convert_to_sparse_tensor=True, show_progress_bar=True
    )
    st_s = time.perf_counter() - start
    dense = theirs.to_dense().numpy()
    diff = float(np.abs(ours.toarray() - dense).max())
    rows.append(
        [
            "sentence-transformers SparseEncoder",
            f"{len(texts) / st_s:.1f}",
            f"{ours_s / st_s:.2f}",
            f"{diff:.1e}",
        ]
    )
    rows[0][2] = f"{st_s / ours_s:.2f} x ST"
    return ours, rows


def bench_search(index: InvertedIndex, queries: sp.csr_matrix, k: int) -> tuple[float, float]:
    searcher = Searcher(index, encoder=object())  # vectors given: no encoder needed
    searcher.search_vectors(queries[:5], k)  # compiles the numba kernel
    start = time.perf_counter()
    ours = searcher.search_vectors(queries, k)
    ours_ms = 1000 * (time.perf_counter() - start) / queries.shape[0]
    docs_t = index.to_matrix().T.tocsr()  # vocab x docs, what scipy's product wants
    start = time.perf_counter()
    for i in range(queries.shape[0]):
        scores = (queries[i] @ docs_t).toarray().ravel()
        top = np.argpartition(-scores, k)[:k]
        top[np.argsort(-scores[top], kind="stable")]
    scipy_ms = 1000 * (time.perf_counter() - start) / queries.shape[0]
    assert ours, "no results"
    return ours_ms, scipy_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/scifact")
    parser.add_argument("--model", default="splade-tiny")
    parser.add_argument("--docs", type=int, default=0, help="first N docs only (0: all)")
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()

    data = load_dataset(args.data, "test")
    n = args.docs or len(data.corpus)
    texts, ids = data.corpus.texts[:n], data.corpus.ids[:n]
    docs, enc_rows = bench_encoding(texts, args.model)
    print(
        f"\n### Encoding {n} docs of {data.name} (max_length 256, torch threads: "
        f"{__import__('torch').get_num_threads()})\n"
    )
    print("| encoder | docs/s | speed ratio | max abs diff vs spire |\n|---|---|---|---|")
    for row in enc_rows:
        print("| " + " | ".join(row) + " |")

    print(
        f"\n### Search, {n} docs, {len(data.queries)} queries, top {args.k}, one query at "
        "a time, single thread\n"
    )
    print(
        "| mode | impacts | postings/doc | terms/query | spire ms/q | scipy ms/q | "
        "spire speed-up |\n|---|---|---|---|---|---|---|"
    )
    free = load_encoder(args.model, "inference-free")
    idf = free.fit_idf(texts)
    siamese = load_encoder(args.model, "siamese")
    for mode, qenc in (("inference-free", free), ("siamese", siamese)):
        queries = qenc.encode_queries(list(data.queries.values()))
        for dtype in ("uint8", "float32"):
            index = InvertedIndex.from_matrix(
                docs, ids, EncoderInfo(args.model, mode), dtype, idf=idf
            )
            ours_ms, scipy_ms = bench_search(index, queries, args.k)
            print(
                f"| {mode} | {dtype} | {index.postings_per_doc():.1f} | "
                f"{queries.nnz / queries.shape[0]:.1f} | {ours_ms:.3f} | {scipy_ms:.3f} | "
                f"{scipy_ms / ours_ms:.2f}x |"
            )


if __name__ == "__main__":
    main()
