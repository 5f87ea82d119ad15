"""What the page shows besides hits: document texts, the dataset's queries and qrels,
and the judgments file that grades from the page are appended to.

The index stores no texts, so titles and snippets come from the dataset named at start-up
(`spire serve DIR --qrels DATASET`, a BEIR folder). Grades go to `--judgments FILE`, a
TREC qrels file (`qid 0 docid grade`), each one appended under an flock of FILE.lock and
written whole (temp file, fsync, rename), so a crash or a second server never leaves a
torn line and every acknowledged grade survives a restart.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from eval.data.datasets import ID_FIELDS, TEXT_FIELDS, corpus_file, load_dataset
from eval.data.jsonl import field, read_jsonl, read_qrels
from spire.core.errors import SpireError
from spire.core.files import file_lock, write_text_atomic
from spire.core.ids import as_id

GRADES = (0, 1, 2, 3)


@dataclass(frozen=True)
class Document:
    title: str
    text: str


def read_documents(folder: Path) -> dict[str, Document]:
    """id -> (title, text) of a BEIR folder's corpus.jsonl, title and text kept apart."""
    path = corpus_file(folder)
    docs: dict[str, Document] = {}
    for lineno, record in read_jsonl(path):
        raw = next((record[n] for n in ID_FIELDS if record.get(n) is not None), None)
        if raw is None:
            field(record, ID_FIELDS, path, lineno)  # raises: no id field
        title = field(record, ("title",), path, lineno, required=False)
        text = field(record, TEXT_FIELDS, path, lineno, required=False)
        docs[as_id(raw, f"{path}:{lineno}")] = Document(title, text)
    return docs


class Judgments:
    """The grades file: read at start, appended one grade at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self._mutex = threading.Lock()  # threads of this process; the flock covers others
        if not path.parent.is_dir():
            raise SpireError(f"--judgments {path}: no such folder {path.parent}")
        if path.exists() and not path.is_file():
            raise SpireError(f"--judgments {path}: not a file")
        self.grades: dict[str, dict[str, int]] = {}
        self.version = 0  # counts every reading of the file, for whoever caches on it
        self._seen: tuple | None = None
        self.refresh()

    def _stat(self) -> tuple | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def refresh(self) -> None:
        """Re-read the file if it changed since we last read or wrote it (another worker
        or server graded), so every process counts every grade."""
        seen = self._stat()
        if seen != self._seen:
            with self._mutex:
                self.grades = read_qrels(self.path) if seen is not None else {}
                self._seen, self.version = seen, self.version + 1

    def add(self, qid: str, docid: str, grade: int) -> int:
        """Append one grade; returns how many (query, document) pairs the file grades."""
        line = f"{qid} 0 {docid} {grade}\n"
        with self._mutex, file_lock(self.lock_path):
            old = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
            if old and not old.endswith("\n"):
                old += "\n"
            write_text_atomic(self.path, old + line)
            self.grades = read_qrels(self.path)  # another process may have graded too
            self._seen, self.version = self._stat(), self.version + 1
        return sum(len(d) for d in self.grades.values())


class Collection:
    """The dataset behind the page: documents, judged queries, qrels plus new grades."""

    def __init__(self, folder: Path | None, split: str, judgments: Path | None) -> None:
        self.folder = folder
        self.documents: dict[str, Document] = {}
        self.queries: dict[str, str] = {}
        self.base_qrels: dict[str, dict[str, int]] = {}
        self.shares_id_space = True
        self.name = ""
        if judgments is not None and folder is None:
            raise SpireError("--judgments needs --qrels DATASET: grades name its queries")
        self.judgments = Judgments(judgments) if judgments is not None else None
        if folder is not None:
            if not folder.is_dir():
                raise SpireError(f"--qrels {folder}: no such dataset folder (a BEIR folder)")
            with warnings.catch_warnings():  # empty documents: only shown, never indexed here
                warnings.simplefilter("ignore")
                data = load_dataset(folder, split)
            self.documents = read_documents(folder)
            self.queries, self.base_qrels = data.queries, data.qrels
            self.shares_id_space, self.name = data.shares_id_space, data.name

    def qrels(self) -> dict[str, dict[str, int]]:
        """The dataset's qrels with every grade from the judgments file over them."""
        if self.judgments is None:
            return self.base_qrels
        self.judgments.refresh()
        if not self.judgments.grades:
            return self.base_qrels
        merged = {q: dict(d) for q, d in self.base_qrels.items()}
        for qid, docs in self.judgments.grades.items():
            merged.setdefault(qid, {}).update(docs)
        return merged

    def text_of(self, docid: str) -> Document | None:
        return self.documents.get(docid)
