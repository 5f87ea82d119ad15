"""A run: query id -> {doc id: score}, read and written as a TREC run file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from spire.core.errors import SpireError

from .jsonl import read_lines


def ranked(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """One query's (doc id, score) pairs in trec_eval's order: score descending, ties by
    doc id descending. Every metric and every written run file follows this order."""
    return sorted(docs.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)


class Run(dict[str, dict[str, float]]):
    """Query id -> {doc id: score}.

    `dataset` optionally names the collection the run was made on, so that fusion can
    refuse to mix runs of different collections. It is not written to TREC files (the
    format has no place for it); pass it again to `load_trec`.
    """

    def __init__(
        self, data: Mapping[str, Mapping[str, float]] | None = None, *, dataset: str | None = None
    ) -> None:
        super().__init__(data or {})
        self.dataset = dataset

    @classmethod
    def from_hits(cls, hits: dict, *, dataset: str | None = None) -> Run:
        return cls(
            {qid: {h.docid: h.score for h in hs} for qid, hs in hits.items()}, dataset=dataset
        )

    def without_identical_ids(self) -> Run:
        """BEIR's default: drop a retrieved document whose id equals the query's id."""
        return Run(
            {q: {d: s for d, s in docs.items() if d != q} for q, docs in self.items()},
            dataset=self.dataset,
        )

    def save_trec(self, path: str | Path, tag: str = "spire") -> Path:
        """Write `qid Q0 docid rank score tag`, atomically, ranked as `ranked` orders."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for qid, docs in self.items():
                for rank, (docid, score) in enumerate(ranked(docs), start=1):
                    f.write(f"{qid} Q0 {docid} {rank} {score:.6f} {tag}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path

    @classmethod
    def load_trec(cls, path: str | Path, *, dataset: str | None = None) -> Run:
        path = Path(path)
        run = cls(dataset=dataset)
        for lineno, line in read_lines(path):
            parts = line.split()
            if len(parts) != 6:
                raise SpireError(f"{path}:{lineno}: expected 'qid Q0 docid rank score tag'")
            try:
                run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
            except ValueError:
                raise SpireError(f"{path}:{lineno}: score {parts[4]!r} is not a number") from None
        return run
