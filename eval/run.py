"""A run: query id -> {doc id: score}, read and written as a TREC run file."""

from __future__ import annotations

import os
from pathlib import Path

from spire.errors import SpireError

from .jsonl import read_lines


class Run(dict[str, dict[str, float]]):
    """Query id -> {doc id: score}."""

    @classmethod
    def from_hits(cls, hits: dict) -> Run:
        return cls({qid: {h.docid: h.score for h in hs} for qid, hs in hits.items()})

    def without_identical_ids(self) -> Run:
        """BEIR's default: drop a retrieved document whose id equals the query's id."""
        return Run({q: {d: s for d, s in docs.items() if d != q} for q, docs in self.items()})

    def save_trec(self, path: str | Path, tag: str = "spire") -> Path:
        """Write `qid Q0 docid rank score tag`, atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for qid, docs in self.items():
                ranked = sorted(docs.items(), key=lambda kv: (-kv[1], kv[0]))
                for rank, (docid, score) in enumerate(ranked, start=1):
                    f.write(f"{qid} Q0 {docid} {rank} {score:.6f} {tag}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path

    @classmethod
    def load_trec(cls, path: str | Path) -> Run:
        path = Path(path)
        run = cls()
        for lineno, line in read_lines(path):
            parts = line.split()
            if len(parts) != 6:
                raise SpireError(f"{path}:{lineno}: expected 'qid Q0 docid rank score tag'")
            try:
                run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
            except ValueError:
                raise SpireError(f"{path}:{lineno}: score {parts[4]!r} is not a number") from None
        return run
