"""Where training queries come from: a BEIR folder's train split, triples, or pseudo-queries
made from any corpus. Each source becomes a `Labelled` set: queries, their relevant
documents, and the corpus those documents live in.

Never training on a test split is enforced here by construction: `load_beir_train`
reads exactly one qrels file, `qrels/<split>.tsv`, and refuses any split named like an
evaluation split. Pseudo-queries read only the corpus.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eval.data.datasets import load_corpus, load_queries
from eval.data.jsonl import field as get_field
from eval.data.jsonl import read_jsonl, read_qrels
from spire.core.errors import SpireError

from .query_generation import DEFAULT_GENERATOR

EVAL_SPLITS = ("test", "dev", "val", "validation")


@dataclass
class Labelled:
    """Queries and relevant documents (qrels, rel > 0) over a corpus."""

    name: str
    doc_ids: list[str]
    doc_texts: list[str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    negatives: dict[str, list[str]] = field(default_factory=dict)  # given ones (triples)

    def subset(self, qids: list[str]) -> Labelled:
        keep = set(qids)
        return Labelled(
            self.name,
            self.doc_ids,
            self.doc_texts,
            {q: t for q, t in self.queries.items() if q in keep},
            {q: d for q, d in self.qrels.items() if q in keep},
            {q: n for q, n in self.negatives.items() if q in keep},
        )


def check_train_split(split: str) -> None:
    name = split.lower()
    if any(name == s or name.startswith(s) for s in EVAL_SPLITS):
        raise SpireError(
            f"split {split!r} is an evaluation split; training reads only train splits or corpora"
        )


def load_beir_train(folder: str | Path, split: str = "train") -> Labelled:
    """A BEIR folder's labelled `split` (never test/dev): its qrels, queries and corpus."""
    check_train_split(split)
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise SpireError(f"{folder}: no such BEIR folder")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise SpireError(
            f"{qrels_path}: no {split!r} split to train on (available: "
            f"{', '.join(have) or 'none'}); use pseudo_queries_from for unlabelled corpora"
        )
    qrels = {
        q: {d: r for d, r in docs.items() if r > 0} for q, docs in read_qrels(qrels_path).items()
    }
    qrels = {q: docs for q, docs in qrels.items() if docs}
    all_queries = load_queries(_file(folder, "queries.jsonl"))
    missing = [q for q in qrels if q not in all_queries]
    if missing:
        raise SpireError(f"{qrels_path}: query id {missing[0]!r} is not in queries.jsonl")
    corpus = load_corpus(folder)
    known = set(corpus.ids)
    absent = [d for docs in qrels.values() for d in docs if d not in known]
    if absent:
        raise SpireError(f"{qrels_path}: document id {absent[0]!r} is not in corpus.jsonl")
    queries = {q: all_queries[q] for q in sorted(qrels)}
    return Labelled(folder.resolve().name, corpus.ids, corpus.texts, queries, qrels)


def load_triples(path: str | Path) -> Labelled:
    """jsonl of {"query", "positive", "negative" | "negatives": [...]}; ids come from the
    texts, so the same passage in two lines is one document."""
    path = Path(path).expanduser()
    docs: dict[str, str] = {}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    negatives: dict[str, list[str]] = {}
    for lineno, record in read_jsonl(path):
        query = get_field(record, ("query",), path, lineno)
        positive = get_field(record, ("positive", "pos"), path, lineno)
        negs = record.get("negatives", record.get("negs"))
        if negs is None:
            negs = [get_field(record, ("negative", "neg"), path, lineno)]
        if not isinstance(negs, list) or not all(isinstance(n, str) for n in negs):
            raise SpireError(f"{path}:{lineno}: 'negatives' must be a list of strings")
        qid = _text_id("q", query)
        queries[qid] = query
        pos_id = _add_doc(docs, positive)
        qrels.setdefault(qid, {})[pos_id] = 1
        given = negatives.setdefault(qid, [])
        given.extend(d for d in (_add_doc(docs, n) for n in negs) if d not in given)
    if not queries:
        raise SpireError(f"{path}: no triples")
    return Labelled(path.stem, list(docs), list(docs.values()), queries, qrels, negatives)


def _add_doc(docs: dict[str, str], text: str) -> str:
    doc_id = _text_id("d", text)
    docs.setdefault(doc_id, text)
    return doc_id


def _text_id(prefix: str, text: str) -> str:
    return f"{prefix}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:16]}"


def _file(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise SpireError(f"{folder / name}: no such file")


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def pseudo_queries(
    spec: str | Path,
    kind: str = "sentence",
    per_doc: int = 1,
    max_docs: int = 2000,
    seed: int = 13,
    generator: str = DEFAULT_GENERATOR,
    show_progress: bool = True,
) -> Labelled:
    """Queries made from a corpus alone, each relevant to the document it came from.

    - "title": the document's title (one per document; titles of under two words skipped);
    - "sentence": a sentence of the text with at least four words;
    - "span": 4 to 12 consecutive words of the text;
    - "ict": a sentence (a span when the text has one sentence) cut out of its document
      (the inverse cloze task): the document no longer holds the query's words verbatim,
      so finding it takes the related words around them, which is what document
      expansion has to learn;
    - "generated": queries written by a small causal LM (`generator`) from the document
      (training/query_generation.py): paraphrases, as real queries are.
    Documents are drawn in a seeded order, at most `max_docs` of them. The corpus is the
    whole collection, so mined negatives come from all of it.
    """
    corpus = load_corpus(spec)
    if kind == "generated":
        queries, qrels = _generated(corpus, per_doc, max_docs, seed, generator, show_progress)
        texts = corpus.texts
    else:
        queries, qrels, texts = _extracted(spec, corpus, kind, per_doc, max_docs, seed)
    if not queries:
        raise SpireError(f"{spec}: no {kind} pseudo-queries could be made from this corpus")
    name = Path(str(spec)).name or str(spec)
    return Labelled(f"pseudo-{name}", corpus.ids, texts, queries, qrels)


def _extracted(spec, corpus, kind, per_doc, max_docs, seed):
    """Queries cut from the documents' own text; "ict" returns the texts without them."""
    texts = list(corpus.texts)
    titles = _titles(spec) if kind == "title" else {}
    rng = np.random.default_rng(seed)
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    used = 0
    for i in rng.permutation(len(corpus)):
        if used >= max_docs:
            break
        doc_id, text = corpus.ids[i], corpus.texts[i]
        made = _make_queries(kind, text, titles.get(doc_id, ""), per_doc, rng)
        if kind == "ict" and made:
            texts[i], made = _cut_out(text, made, per_doc, rng)
        _add_queries(queries, qrels, doc_id, made)
        used += bool(made)
    return queries, qrels, texts


def _generated(corpus, per_doc, max_docs, seed, generator, show_progress):
    """Queries written by `generator` for the first `max_docs` non-empty documents of a
    seeded order (training/query_generation.py)."""
    from .query_generation import GenerationSettings, generate_queries

    order = np.random.default_rng(seed).permutation(len(corpus))
    picked = [int(i) for i in order if corpus.texts[i].strip()][:max_docs]
    settings = GenerationSettings(per_doc=per_doc, seed=seed)
    texts = [corpus.texts[i] for i in picked]
    made = generate_queries(texts, generator, settings, show_progress=show_progress)
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for i, doc_queries in zip(picked, made, strict=True):
        _add_queries(queries, qrels, corpus.ids[i], doc_queries)
    return queries, qrels


def _add_queries(queries, qrels, doc_id: str, made: list[str]) -> None:
    for j, query in enumerate(made):
        qid = f"pq-{doc_id}-{j}"
        queries[qid] = query
        qrels[qid] = {doc_id: 1}


def _cut_out(text: str, sentences: list[str], per_doc: int, rng) -> tuple[str, list[str]]:
    """The text without its query sentences, and the queries; a span instead when that
    leaves too little (one-sentence texts: Vaswani has no full stops); no query at all
    when even that does."""
    rest = _cut(text, sentences)
    if len(rest.split()) < 4:
        sentences = _make_queries("span", text, "", per_doc, rng)
        rest = _cut(text, sentences)
    if len(rest.split()) < 4:
        return text, []
    return rest, sentences


def _cut(text: str, sentences: list[str]) -> str:
    for sentence in sentences:
        text = text.replace(sentence, " ", 1)
    return " ".join(text.split())


def _make_queries(kind: str, text: str, title: str, n: int, rng) -> list[str]:
    if kind == "title":
        return [title] if len(title.split()) >= 2 else []
    if kind in ("sentence", "ict"):
        sentences = [s for s in _SENTENCE.split(text) if len(s.split()) >= 4]
        if not sentences:
            return []
        picks = rng.choice(len(sentences), size=min(n, len(sentences)), replace=False)
        return [sentences[p].strip() for p in sorted(picks)]
    words = text.split()
    if len(words) < 4:
        return []
    out = []
    for _ in range(n):
        size = int(rng.integers(4, min(12, len(words)) + 1))
        start = int(rng.integers(0, len(words) - size + 1))
        out.append(" ".join(words[start : start + size]))
    return out


def _titles(spec: str | Path) -> dict[str, str]:
    """doc id -> title, from a BEIR folder's corpus.jsonl or a corpus jsonl file."""
    path = Path(spec).expanduser()
    if path.is_dir():
        path = _file(path, "corpus.jsonl")
    if not path.is_file():
        raise SpireError(f"{spec}: title pseudo-queries need a local corpus jsonl")
    out = {}
    for lineno, record in read_jsonl(path):
        doc_id = get_field(record, ("_id", "id", "docid", "doc_id"), path, lineno)
        out[doc_id] = get_field(record, ("title",), path, lineno, required=False)
    return out


def limit_queries(data: Labelled, n: int, seed: int) -> Labelled:
    """At most `n` queries (a seeded choice; 0 keeps all), for quick runs."""
    qids = sorted(data.queries)
    if n <= 0 or n >= len(qids):
        return data
    keep = np.random.default_rng([seed, 1]).choice(len(qids), size=n, replace=False)
    return data.subset([qids[i] for i in sorted(keep)])


def split_dev(data: Labelled, n_dev: int, seed: int) -> tuple[Labelled, Labelled | None]:
    """Hold `n_dev` queries out (a seeded choice) for evaluation during training."""
    if n_dev <= 0:
        return data, None
    qids = sorted(data.queries)
    if n_dev >= len(qids):
        raise SpireError(f"dev_queries={n_dev} leaves no training queries ({len(qids)} in all)")
    dev = set(np.random.default_rng(seed).choice(len(qids), size=n_dev, replace=False).tolist())
    train_ids = [q for i, q in enumerate(qids) if i not in dev]
    dev_ids = [q for i, q in enumerate(qids) if i in dev]
    return data.subset(train_ids), data.subset(dev_ids)
