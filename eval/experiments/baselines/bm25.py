"""Lucene BM25 through Pyserini, in the BEIR "flat" condition: one field holding
title + " " + text, k1=0.9, b=0.4, Lucene's default English analyzer."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tqdm.auto import tqdm

from eval.data.datasets import Dataset
from eval.data.run import Run

from .pyserini_env import index_collection, pyserini


def build_bm25_index(data: Dataset, folder: Path) -> Path:
    """Write the corpus as a JsonCollection and index it with Anserini."""
    collection = folder / "collection"
    collection.mkdir(parents=True, exist_ok=True)
    with open(collection / "docs.jsonl", "w", encoding="utf-8") as f:
        for docid, text in zip(data.corpus.ids, data.corpus.texts, strict=True):
            f.write(json.dumps({"id": docid, "contents": text}, ensure_ascii=False) + "\n")
    index_collection("JsonCollection", collection, folder / "lucene")
    return folder / "lucene"


def bm25_run(
    data: Dataset,
    k: int = 1000,
    k1: float = 0.9,
    b: float = 0.4,
    workdir: str | Path | None = None,
    show_progress: bool = False,
) -> Run:
    """Index the corpus in Lucene (a temporary folder unless `workdir`) and run BM25."""
    with tempfile.TemporaryDirectory(prefix="spire-bm25-") as tmp:
        folder = Path(workdir) if workdir is not None else Path(tmp)
        searcher = pyserini().LuceneSearcher(str(build_bm25_index(data, folder)))
        searcher.set_bm25(k1, b)
        run = Run()
        for qid, text in tqdm(
            data.queries.items(), desc="bm25", unit="query", disable=not show_progress
        ):
            run[qid] = {h.docid: float(h.score) for h in searcher.search(text, k)}
        searcher.close()
        return run
