"""Every number in regressions/*.json, re-measured (Pyserini's "2CR" habit)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from encoders import load_encoder
from eval.pipeline import evaluate, evaluate_index
from indexing import EncoderInfo, InvertedIndex

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"


def _entries():
    for path in sorted((REPO / "regressions").glob("*.json")):
        spec = json.loads(path.read_text())
        for entry in spec["entries"]:
            marks = [pytest.mark.slow] if entry.get("slow") else []
            name = f"{path.stem}:{entry['dataset']}:{entry['system']}"
            yield pytest.param(entry, id=name, marks=marks)


def _sparse_report(entry, encoded_corpus):
    data, docs, idf = encoded_corpus(entry["dataset"], entry["split"], entry["model"])
    mode = entry["system"]
    info = EncoderInfo(entry["model"], mode)
    index = InvertedIndex.from_matrix(docs, data.corpus.ids, info, "uint8", idf=idf)
    return evaluate_index(index, data, load_encoder(entry["model"], mode, idf=idf))


@pytest.mark.parametrize("entry", list(_entries()))
def test_regression(entry, encoded_corpus):
    if not (DATA / entry["dataset"]).is_dir():
        pytest.skip(f"{DATA / entry['dataset']} is not here")
    if entry["system"] in ("siamese", "inference-free"):
        report = _sparse_report(entry, encoded_corpus)
    else:
        report = evaluate(DATA / entry["dataset"], split=entry["split"], system=entry["system"],
                          show_progress=False, **entry.get("options", {}))  # fmt: skip
    for metric, expected in entry["metrics"].items():
        got = report.metrics[metric]
        assert got == pytest.approx(expected, abs=entry["tolerance"]), (
            f"{entry['command']}: {metric} {got:.4f}, expected {expected} ± {entry['tolerance']}"
        )
