"""Evaluation during training on held-out training queries (never a test split).

dev_mode "corpus" (the default) does what search does: the student, in eval mode,
encodes every document of the source's corpus, each dev query is encoded by the
student's query side, and the exact top `CORPUS_DEPTH` by sparse dot product are scored
with ir-measures. dev_mode "pool" re-ranks each query's positives and mined candidates
(~30 documents): cheap, but a student can improve there while full retrieval gets worse.

Evaluation consumes no random numbers (eval mode, no dropout), so resumes stay exact.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from encoders.batching import encode_sparse
from encoders.lexical import with_lexical
from eval.metrics import compute_metrics
from retrieval.topk import top_k_rows

from .config import DEV_MODES
from .dataset import DevSet

POOL_MEASURES = ("nDCG@10", "RR@10")
CORPUS_MEASURES = ("nDCG@10", "RR@10", "R@100")
CORPUS_DEPTH = 100
TOKENS_PER_BATCH = 8192  # as encoders/splade.py: length-sorted, padded-token budget


def evaluate_dev(
    student, dev: DevSet, query_max_length: int, doc_max_length: int, mode: str = "corpus"
) -> dict[str, float]:
    """The dev metrics of the student: nDCG@10, RR@10 (and R@100 in corpus mode)."""
    run = dev_run(student, dev, query_max_length, doc_max_length, mode)
    return compute_metrics(dev.qrels, run, CORPUS_MEASURES if mode == "corpus" else POOL_MEASURES)


def dev_run(
    student, dev: DevSet, query_max_length: int, doc_max_length: int, mode: str = "corpus"
) -> dict[str, dict[str, float]]:
    """qid -> {doc id: score}: the student's ranking of the corpus, or of each pool."""
    if mode not in DEV_MODES:
        raise ValueError(f"dev mode must be one of {', '.join(DEV_MODES)}, not {mode!r}")
    was_training = student.training
    student.eval()  # no dropout; eval consumes no random numbers, so resumes stay exact
    try:
        with torch.no_grad():
            qids = sorted(dev.queries)
            texts = [dev.queries[q] for q in qids]
            queries = encode_texts(student.encode_queries, texts, query_max_length)
            if mode == "pool":
                return _pool_run(student, dev, qids, queries, doc_max_length)
            docs = encode_corpus(student, dev.corpus_texts, doc_max_length)
            return top_k_run(queries, docs, qids, dev.corpus_ids, CORPUS_DEPTH)
    finally:
        student.train(was_training)


def encode_corpus(student, texts: list[str], max_length: int) -> sp.csr_matrix:
    """The student's document vectors, batched as encoders/splade.py batches for an index
    (length-sorted, token budget; a text of special tokens only is an empty row)."""
    forward = student.doc  # both students encode documents with their SpladeForward

    def batch(id_lists: list[list[int]], stats) -> sp.csr_matrix:
        padded = forward.tokenizer.pad({"input_ids": id_lists}, return_tensors="pt")
        weights = forward.encode_ids(padded["input_ids"], padded["attention_mask"])
        return sp.csr_matrix(weights.float().cpu().numpy())

    docs, _ = encode_sparse(
        forward.tokenizer, texts, max_length, TOKENS_PER_BATCH, batch, forward.vocab_size
    )
    return with_lexical(docs, forward.tokenizer, texts, student.lexical)


def top_k_run(
    queries: sp.csr_matrix, docs: sp.csr_matrix, qids: list[str], doc_ids: list[str], k: int
) -> dict[str, dict[str, float]]:
    """Exact top k of each query by sparse dot product, by retrieval's one top-k (documents
    scoring 0 match no query term and are not retrieved; ties go to the lower row)."""
    rows, values, counts = top_k_rows(queries @ docs.T, k)
    return {
        qid: {doc_ids[d]: float(v) for d, v in zip(rows[i, :n], values[i, :n], strict=True)}
        for i, (qid, n) in enumerate(zip(qids, counts.tolist(), strict=True))
    }


def _pool_run(student, dev: DevSet, qids, queries: sp.csr_matrix, doc_max_length: int) -> dict:
    doc_ids = sorted(dev.docs)
    row = {d: i for i, d in enumerate(doc_ids)}
    texts = [dev.docs[d] for d in doc_ids]
    docs = encode_texts(student.encode_documents, texts, doc_max_length)
    docs = with_lexical(docs, student.doc.tokenizer, texts, student.lexical)
    run = {}
    for i, qid in enumerate(qids):
        pool = dev.pools[qid]
        scores = np.asarray((docs[[row[d] for d in pool]] @ queries[i].T).todense()).ravel()
        run[qid] = {d: float(s) for d, s in zip(pool, scores, strict=True)}
    return run


def encode_texts(encode, texts: list[str], max_length: int, chunk: int = 32) -> sp.csr_matrix:
    """`encode` (a student's encode_queries or encode_documents) over `texts`, sparse."""
    # Sparse per chunk: a dense (docs x 30522) float matrix would cost ~120 kB a document.
    rows = [
        sp.csr_matrix(encode(texts[i : i + chunk], max_length).float().cpu().numpy())
        for i in range(0, len(texts), chunk)
    ]
    return sp.vstack(rows, format="csr") if rows else sp.csr_matrix((0, 1))
