"""One loader for corpora, queries and qrels: a BEIR folder, a jsonl file or an ir_datasets id."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from spire.core.errors import SpireError
from spire.core.ids import as_id

from .jsonl import field as get_field
from .jsonl import read_jsonl, read_qrels

ID_FIELDS = ("_id", "id", "docid", "doc_id")
TEXT_FIELDS = ("text", "contents", "body")

# Collections whose query and document ids are separate numberings: query 5 and
# document 5 are unrelated, so BEIR's "drop identical ids" rule must stay off.
SEPARATE_ID_SPACES = ("cranfield", "cisi", "vaswani", "medline")


@dataclass
class Corpus:
    ids: list[str]
    texts: list[str]  # title + " " + text
    n_empty: int = 0

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Dataset:
    name: str
    corpus: Corpus
    queries: dict[str, str]  # only the queries judged in the split
    qrels: dict[str, dict[str, int]]
    split: str = "test"
    shares_id_space: bool = True  # may a query id name a corpus document?
    notes: list[str] = field(default_factory=list)


def load_corpus(spec: str | Path) -> Corpus:
    """A corpus from a BEIR folder, any jsonl with an id and text/title fields, or an
    ir_datasets id."""
    path = corpus_file(spec)
    if path is None:
        return _ir_datasets_corpus(_ir_dataset(str(spec)), str(spec))
    ids: list[str] = []
    texts: list[str] = []
    for _, doc_id, text in iter_corpus(path):
        ids.append(doc_id)
        texts.append(text)
    if not ids:
        raise SpireError(f"{path}: no documents")
    return _with_empty_count(Corpus(ids, texts), path)


def corpus_file(spec: str | Path) -> Path | None:
    """The corpus file of a BEIR folder (corpus.jsonl or corpus.jsonl.gz) or a jsonl(.gz)
    file; None for a spec that names no local path (an ir_datasets id)."""
    path = Path(spec).expanduser()
    if not path.exists():
        return None
    return _find(path, "corpus.jsonl") if path.is_dir() else path


def iter_corpus(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line number, id, title + " " + text) of each document, streamed in file order
    (gzip too); a repeated id is refused with both its lines."""
    first_line: dict[str, int] = {}
    for lineno, record in read_jsonl(path):
        doc_id = _doc_id(record, path, lineno)
        if doc_id in first_line:
            raise SpireError(
                f"{path}:{lineno}: duplicate document id {doc_id!r} (first on "
                f"line {first_line[doc_id]})"
            )
        first_line[doc_id] = lineno
        title = get_field(record, ("title",), path, lineno, required=False)
        body = get_field(record, TEXT_FIELDS, path, lineno, required=False)
        yield lineno, doc_id, f"{title} {body}".strip()


def _doc_id(record: dict, path: Path, lineno: int) -> str:
    """The record's id, by spire.core.ids (the rule, and the words, of the Python API and the
    server: an int becomes its str; true or 1.5 is refused)."""
    raw = next((record[name] for name in ID_FIELDS if record.get(name) is not None), None)
    if raw is None:
        get_field(record, ID_FIELDS, path, lineno)  # raises: no id field
    return as_id(raw, f"{path}:{lineno}")


def _with_empty_count(corpus: Corpus, source: object) -> Corpus:
    corpus.n_empty = sum(1 for t in corpus.texts if not t.strip())
    if corpus.n_empty:
        warnings.warn(
            f"{source}: {corpus.n_empty} document(s) have no text; indexed empty", stacklevel=3
        )
    return corpus


def load_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for lineno, record in read_jsonl(path):
        qid = get_field(record, ID_FIELDS + ("query_id", "qid"), path, lineno)
        queries[qid] = get_field(record, ("text", "query", "title"), path, lineno)
    return queries


def load_dataset(spec: str | Path, split: str = "test") -> Dataset:
    """A BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) or an ir_datasets id."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return _load_beir_folder(path, split)
    if path.exists():
        raise SpireError(
            f"{spec}: a dataset is a BEIR folder (corpus.jsonl, queries.jsonl, "
            "qrels/) or an ir_datasets id; one file holds no queries or qrels"
        )
    return _load_ir_datasets(str(spec))


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise SpireError(f"{folder / name}: no such file")


def _load_beir_folder(folder: Path, split: str) -> Dataset:
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise SpireError(f"{qrels_path}: no such split (available: {', '.join(have) or 'none'})")
    qrels = read_qrels(qrels_path)
    all_queries = load_queries(_find(folder, "queries.jsonl"))
    missing = [q for q in qrels if q not in all_queries]
    if missing:
        raise SpireError(f"{qrels_path}: query id {missing[0]!r} is not in queries.jsonl")
    queries = {q: all_queries[q] for q in all_queries if q in qrels}
    name = folder.resolve().name
    return Dataset(
        name=name,
        corpus=load_corpus(folder),
        queries=queries,
        qrels=qrels,
        split=split,
        shares_id_space=not _separate_ids(name, qrels),
    )


def _separate_ids(name: str, qrels: dict[str, dict[str, int]]) -> bool:
    """True where query ids and doc ids are separate numberings.

    Known classic collections say so by name; a judged-relevant pair with equal ids
    proves it too, since BEIR's rule would then drop a relevant document.
    """
    words = set(re.split(r"[^a-z0-9]+", name.lower()))
    if words & set(SEPARATE_ID_SPACES):
        return True
    return any(q in docs and docs[q] > 0 for q, docs in qrels.items())


def _ir_dataset(dataset_id: str):
    import ir_datasets

    try:
        return ir_datasets.load(dataset_id)
    except KeyError:
        raise SpireError(
            f"{dataset_id}: no such file or folder, and not an ir_datasets id"
        ) from None


@contextmanager
def _ir_datasets_errors(dataset_id: str):
    try:
        yield
    except SpireError:
        raise
    except Exception as exc:  # ir_datasets raises many types for a failed download
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpireError(
            f"ir_datasets could not provide {dataset_id!r} (offline, or not cached "
            f"under $IR_DATASETS_HOME?): {reason}"
        ) from None


def _ir_datasets_corpus(ds, dataset_id: str) -> Corpus:
    if not ds.has_docs():
        raise SpireError(f"ir_datasets {dataset_id!r} has no documents")
    ids, texts = [], []
    with _ir_datasets_errors(dataset_id):
        for doc in ds.docs_iter():
            ids.append(as_id(doc.doc_id, f"{dataset_id} document {len(ids) + 1}"))
            texts.append(f"{getattr(doc, 'title', '') or ''} {getattr(doc, 'text', '')}".strip())
    return _with_empty_count(Corpus(ids, texts), dataset_id)


def _load_ir_datasets(dataset_id: str) -> Dataset:
    ds = _ir_dataset(dataset_id)
    for needed in ("queries", "qrels"):
        if not getattr(ds, f"has_{needed}")():
            raise SpireError(f"ir_datasets {dataset_id!r} has no {needed}")
    qrels: dict[str, dict[str, int]] = {}
    with _ir_datasets_errors(dataset_id):
        for qrel in ds.qrels_iter():
            qrels.setdefault(qrel.query_id, {})[qrel.doc_id] = int(qrel.relevance)
        queries = {q.query_id: _query_text(q) for q in ds.queries_iter() if q.query_id in qrels}
    corpus = _ir_datasets_corpus(ds, dataset_id)
    return Dataset(
        name=dataset_id,
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        split=dataset_id.rsplit("/", 1)[-1],
        shares_id_space=not _separate_ids(dataset_id, qrels),
    )


def _query_text(query) -> str:
    for attr in ("text", "title", "query"):
        value = getattr(query, attr, None)
        if value:
            return value
    return ""
