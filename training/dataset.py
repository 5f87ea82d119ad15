"""The arrays a training run iterates: one example per (query, positive) with its hard
negatives, and the dev set evaluated during training."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from .data import Labelled


@dataclass
class TrainingSet:
    """Example i is query `query_index[i]` with documents `groups[i]` (positive first)."""

    queries: list[str]
    docs: list[str]
    doc_ids: list[str]
    query_index: np.ndarray  # (n,) int64
    groups: np.ndarray  # (n, 1 + negatives) int64 indices into docs
    positives: list[set[int]]  # per query: every positive doc index (false-negative mask)

    def __len__(self) -> int:
        return len(self.query_index)

    @property
    def group_size(self) -> int:
        return int(self.groups.shape[1])

    def fingerprint(self) -> str:
        """Identifies the exact examples, so a resume refuses different data."""
        digest = hashlib.sha256()
        for part in (self.queries, self.docs):
            digest.update(json.dumps(part, ensure_ascii=False).encode("utf-8"))
        digest.update(np.ascontiguousarray(self.query_index).tobytes())
        digest.update(np.ascontiguousarray(self.groups).tobytes())
        return digest.hexdigest()

    def pairs(self) -> np.ndarray:
        """(n * group, 2) rows of (query index, doc index): what teachers score."""
        q = np.repeat(self.query_index, self.group_size)
        return np.stack([q, self.groups.ravel()], axis=1)

    def batch(self, step: int, batch_size: int, seed: int) -> np.ndarray:
        """Example indices of 1-based `step`: a pure function of (step, seed), so a resumed
        run sees exactly the batches the interrupted one would have.

        The examples are one stream of seeded per-epoch permutations; step s takes items
        [(s-1)*B, s*B) of it.
        """
        n = len(self)
        start = (step - 1) * batch_size
        out = []
        while len(out) < batch_size:
            epoch, offset = divmod(start + len(out), n)
            order = np.random.default_rng([seed, epoch]).permutation(n)
            out.extend(order[offset : offset + batch_size - len(out)].tolist())
        return np.asarray(out, dtype=np.int64)


def build_training_set(parts: list[tuple[Labelled, dict[str, list[str]]]]) -> TrainingSet:
    """Merge sources (each with its sampled negatives) into one TrainingSet."""
    queries: list[str] = []
    doc_index: dict[str, int] = {}
    docs: list[str] = []
    doc_ids: list[str] = []
    q_rows, g_rows, positives = [], [], []
    for data, negatives in parts:
        texts = dict(zip(data.doc_ids, data.doc_texts, strict=True))

        def index_of(doc_id: str, data=data, texts=texts) -> int:
            key = f"{data.name}\t{doc_id}"  # two corpora may reuse an id
            if key not in doc_index:
                doc_index[key] = len(docs)
                docs.append(texts[doc_id])
                doc_ids.append(doc_id)
            return doc_index[key]

        for qid in sorted(data.qrels):
            qi = len(queries)
            queries.append(data.queries[qid])
            pos = [index_of(d) for d in sorted(data.qrels[qid])]
            positives.append(set(pos))
            negs = [index_of(d) for d in negatives[qid]]
            for p in pos:
                q_rows.append(qi)
                g_rows.append([p, *negs])
    return TrainingSet(
        queries,
        docs,
        doc_ids,
        np.asarray(q_rows, dtype=np.int64),
        np.asarray(g_rows, dtype=np.int64).reshape(len(q_rows), -1),
        positives,
    )


@dataclass
class DevSet:
    """Held-out training queries (never a test split) and what they are ranked over: the
    whole corpus of their source (dev_mode "corpus", as search will) or a small pool of
    each query's positives and mined candidates (dev_mode "pool", cheap but lenient)."""

    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    pools: dict[str, list[str]]
    docs: dict[str, str]  # the pools' documents
    corpus_ids: list[str]  # every document of the source's corpus
    corpus_texts: list[str]


def build_dev_set(data: Labelled, ranked: dict[str, list[str]]) -> DevSet:
    texts = dict(zip(data.doc_ids, data.doc_texts, strict=True))
    pools = {q: sorted(data.qrels[q]) + ranked.get(q, []) for q in data.queries}
    needed = {d for pool in pools.values() for d in pool}
    return DevSet(
        dict(data.queries),
        data.qrels,
        pools,
        {d: texts[d] for d in needed},
        list(data.doc_ids),
        list(data.doc_texts),
    )
