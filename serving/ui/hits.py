"""Hits as the page shows them: term contributions as shares of the score, expansion
terms told apart from literal matches, and snippets with the matched words marked.

A term is *literal* for a document when the tokenizer finds it in the document's own
text (title or body), and an *expansion* otherwise: the model put weight on a term the
text does not hold. The same test on the query text marks a siamese query's expansions.
"""

from __future__ import annotations

import re

import numpy as np

from .data import Collection, Document

SNIPPET_CHARS = 280
_WORD = re.compile(r"\w")


def token_spans(tokenizer, texts: list[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
    """The tokenizer's ids for each text and each id's character span, in one batch call
    (from the fast tokenizer's Encodings, which transformers' tokenizers and spire's
    query tokenizer both return; a slow tokenizer has no offsets, so nothing is marked)."""
    out: list[tuple[list[int], list[tuple[int, int]]]] = [([], []) for _ in texts]
    wanted = [i for i, text in enumerate(texts) if text]
    if tokenizer is None or not wanted:
        return out
    batch = tokenizer([texts[i] for i in wanted], add_special_tokens=False, verbose=False)
    for i, enc in zip(wanted, getattr(batch, "encodings", None) or [], strict=False):
        out[i] = (list(enc.ids), [tuple(span) for span in enc.offsets])
    return out


def _whole_words(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans widened to whole words and merged where they touch."""
    out: list[list[int]] = []
    for start, end in sorted(spans):
        while start > 0 and _WORD.match(text[start - 1]):
            start -= 1
        while end < len(text) and _WORD.match(text[end]):
            end += 1
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


def _window(text: str, spans: list[tuple[int, int]], width: int) -> tuple[int, int]:
    """The `width` characters of `text` holding the most marked words, cut between words."""
    if len(text) <= width:
        return 0, len(text)
    starts = np.array([s for s, _ in spans] or [0])
    best, lo = -1, 0
    for s in starts.tolist():
        begin = max(0, min(s - 40, len(text) - width))
        count = int(((starts >= begin) & (starts < begin + width)).sum())
        if count > best:
            best, lo = count, begin
    hi = min(len(text), lo + width)
    if lo > 0:
        cut = text.find(" ", lo)
        lo = cut + 1 if 0 <= cut < lo + 30 else lo
    if hi < len(text):
        cut = text.rfind(" ", lo, hi)
        hi = cut if cut > lo else hi
    return lo, hi


def marked(text: str, spans: list[tuple[int, int]], width: int | None = None) -> list[tuple]:
    """`text` (or its best `width`-character window) as (piece, is_match) pairs; the
    template escapes every piece."""
    spans = _whole_words(text, spans)
    lo, hi = (0, len(text)) if width is None else _window(text, spans, width)
    parts: list[tuple[str, bool]] = [("… ", False)] if lo > 0 else []
    pos = lo
    for start, end in spans:
        start, end = max(start, lo), min(end, hi)
        if start >= end:
            continue
        if start > pos:
            parts.append((text[pos:start], False))
        parts.append((text[start:end], True))
        pos = end
    if pos < hi:
        parts.append((text[pos:hi], False))
    if hi < len(text):
        parts.append((" …", False))
    return parts


def hit_views(hits: list[dict], collection: Collection, tokenizer, grades: dict) -> list[dict]:
    """run_search's hits (with explanations) as the template shows them."""
    docs = [collection.text_of(h["docid"]) for h in hits]
    texts = [part for d in docs for part in ((d.title, d.text) if d else ("", ""))]
    spans = token_spans(tokenizer, texts)
    return [
        hit_view(h, doc, spans[2 * i], spans[2 * i + 1], grades)
        for i, (h, doc) in enumerate(zip(hits, docs, strict=True))
    ]


def hit_view(hit: dict, doc: Document | None, title_tokens, body_tokens, grades: dict) -> dict:
    """One hit, given its document and the tokens of its title and body."""
    title, body = (doc.title, doc.text) if doc is not None else ("", "")
    (title_ids, title_spans), (body_ids, body_spans) = title_tokens, body_tokens
    in_text = set(title_ids) | set(body_ids)
    explanation = hit.get("explanation") or []
    literal = {c["term"] for c in explanation if c["term"] in in_text}
    score = hit["score"]
    total = sum(c["score"] for c in explanation)
    scale = max(total, 1e-12)
    terms = [
        {**c, "share": 100.0 * c["score"] / scale,
         "kind": "literal" if c["term"] in literal else "expansion" if doc else "unknown"}
        for c in explanation
    ]  # fmt: skip
    pick = lambda ids, spans: [s for t, s in zip(ids, spans, strict=True) if t in literal]  # noqa: E731
    return {
        "rank": hit["rank"],
        "docid": hit["docid"],
        "score": score,
        "sparse_total": total,
        "terms": terms,
        "has_text": doc is not None,
        "title": marked(title, pick(title_ids, title_spans)),
        "snippet": marked(body, pick(body_ids, body_spans), SNIPPET_CHARS),
        "grade": grades.get(hit["docid"]),
        "fusion": hit.get("fusion"),
    }


def query_vector(encoder, text: str) -> dict:
    """The query's own vector: each term's weight (and IDF for inference-free), heaviest
    first, with the terms the tokenizer does not find in the query text marked."""
    row = encoder.encode_queries([text])
    tokenizer = getattr(encoder, "tokenizer", None)
    ids = row.indices.tolist()
    names = tokenizer.convert_ids_to_tokens(ids) if tokenizer is not None else map(str, ids)
    in_query = set(token_spans(tokenizer, [text])[0][0])
    inference_free = getattr(encoder, "mode", "") == "inference-free"
    idf = getattr(encoder, "idf", None) if inference_free else None
    terms = [
        {"token": str(name), "term": t, "weight": float(w),
         "idf": float(idf[t]) if idf is not None else None,
         "kind": "literal" if t in in_query else "expansion"}
        for name, t, w in zip(names, ids, row.data.tolist(), strict=True)
    ]  # fmt: skip
    terms.sort(key=lambda c: (-c["weight"], c["term"]))
    top = max((c["weight"] for c in terms), default=1.0) or 1.0
    for c in terms:
        c["share"] = 100.0 * c["weight"] / top
    return {"terms": terms, "mode": getattr(encoder, "mode", "?"), "with_idf": idf is not None}
