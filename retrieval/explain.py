"""Hits that know where they live, and why they scored: each matched term's share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Hit:
    docid: str
    score: float


@dataclass(frozen=True)
class SegmentHit:
    """A hit plus where it lives in its snapshot (for explanations)."""

    docid: str
    score: float
    segment: int  # position in the snapshot's segments
    doc: int  # internal number inside that segment

    def hit(self) -> Hit:
        return Hit(self.docid, self.score)


@dataclass(frozen=True)
class Contribution:
    term: int
    token: str
    query_weight: float
    doc_weight: float  # dequantised impact

    @property
    def score(self) -> float:
        return self.query_weight * self.doc_weight


def contributions(
    snap, terms: np.ndarray, weights: np.ndarray, hit: SegmentHit, tokenizer=None
) -> list[Contribution]:
    """Each matched query term's weight, the document's weight and their product,
    largest contribution first; they sum to the hit's score (up to float rounding)."""
    index = snap.segments[hit.segment].segment.index
    found = []
    for t, w in zip(np.asarray(terms).tolist(), np.asarray(weights).tolist(), strict=True):
        docs = index.term_doc_ids(t)  # decoded for this one term if packed
        j = int(np.searchsorted(docs, hit.doc))
        if j < docs.size and docs[j] == hit.doc:
            found.append((t, w, float(index.impacts[index.indptr[t] + j]) * index.scale))
    ids = [t for t, _, _ in found]
    if tokenizer is None or not ids:
        tokens = [str(i) for i in ids]
    else:
        tokens = [str(t) for t in tokenizer.convert_ids_to_tokens(ids)]
    out = [Contribution(t, tok, w, dw) for (t, w, dw), tok in zip(found, tokens, strict=True)]
    return sorted(out, key=lambda c: (-c.score, c.term))
