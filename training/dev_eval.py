"""Periodic evaluation on held-out training queries (never a test split): each dev query
re-ranks its pool (its positives and mined candidates) with the current student."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from eval.metrics import compute_metrics

from .dataset import DevSet

DEV_MEASURES = ("nDCG@10", "RR@10")


def _encode(encode, texts: list[str], max_length: int, chunk: int = 32) -> sp.csr_matrix:
    # Sparse per chunk: a dense (docs x 30522) float matrix would cost ~120 kB a document.
    rows = [
        sp.csr_matrix(encode(texts[i : i + chunk], max_length).float().cpu().numpy())
        for i in range(0, len(texts), chunk)
    ]
    return sp.vstack(rows, format="csr") if rows else sp.csr_matrix((0, 1))


@torch.no_grad()
def evaluate_dev(student, dev: DevSet, query_max_length: int, doc_max_length: int) -> dict:
    """nDCG@10 and RR@10 (ir-measures) of the student's ranking of each dev pool."""
    was_training = student.training
    student.eval()  # no dropout; eval consumes no random numbers, so resumes stay exact
    try:
        doc_ids = sorted(dev.docs)
        row = {d: i for i, d in enumerate(doc_ids)}
        docs = _encode(student.encode_documents, [dev.docs[d] for d in doc_ids], doc_max_length)
        qids = sorted(dev.queries)
        queries = _encode(student.encode_queries, [dev.queries[q] for q in qids], query_max_length)
        run = {}
        for i, qid in enumerate(qids):
            pool = dev.pools[qid]
            scores = np.asarray((docs[[row[d] for d in pool]] @ queries[i].T).todense()).ravel()
            run[qid] = {d: float(s) for d, s in zip(pool, scores, strict=True)}
        return compute_metrics(dev.qrels, run, DEV_MEASURES)
    finally:
        student.train(was_training)
