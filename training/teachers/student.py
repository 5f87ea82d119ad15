"""The student as initialised, as a teacher: its starting ranking joins the ensemble.

For an inference-free student with the lexical term, the initial student is splade-tiny
plus a stemmed BM25 over word pieces: on SciFact's train queries it re-ranks its own
top 30 better than any one teacher, and the ensemble with it better than without
(docs/training.md, "Teacher headroom"). As a teacher it is meant to anchor training to
what the student already ranks well; on 200 held-out train queries that was level with
the recipe's three teachers, so it is an option, not the default.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from .base import corpus_key, used

if TYPE_CHECKING:
    from ..config import TrainConfig


class StudentTeacher:
    """Dot products of the initial student's query and document vectors (learnt + lexical),
    exactly as its index and the dev evaluation score them."""

    spec = "student"
    show_progress = False

    def __init__(self, config: TrainConfig, corpus: list[str]) -> None:
        from ..models import build_from_config

        self.student = build_from_config(config, corpus)
        student = config.student
        self.query_max_length = student.query_max_length
        self.doc_max_length = student.doc_max_length
        lexical = json.dumps(self.student.lexical.to_dict(), sort_keys=True)
        # The initial IDF (and the lexical avgdl) are counted on `corpus`: part of the key.
        self._key = (
            f"student|{student.kind}|{student.init_model}|lexical={lexical}|"
            f"threshold={student.activation_threshold}|"
            f"q{self.query_max_length}|d{self.doc_max_length}|corpus={corpus_key(corpus)}"
        )

    def cache_key(self) -> str:
        return self._key

    def score(self, queries: list[str], docs: list[str], pairs: np.ndarray) -> np.ndarray:
        import torch

        from ..dev_eval import encode_corpus, encode_texts

        q_ids, q_row = used(pairs, 0)
        d_ids, d_row = used(pairs, 1)
        student = self.student.eval()
        with torch.no_grad():
            q = encode_texts(
                student.encode_queries, [queries[i] for i in q_ids], self.query_max_length
            )
            d = encode_corpus(student, [docs[i] for i in d_ids], self.doc_max_length)
        q, d = q.tocsr()[q_row], d.tocsr()[d_row]
        return np.asarray(q.multiply(d).sum(axis=1), dtype=np.float32).ravel()
