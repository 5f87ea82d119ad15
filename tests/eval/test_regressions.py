"""Every number in regressions/*.json, re-measured (Pyserini's "2CR" habit).

Documents are encoded once per dataset and shared by the siamese and inference-free
entries, which differ only on the query side.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from encoders import load_encoder
from eval.datasets import load_dataset
from eval.pipeline import evaluate_index
from indexing import EncoderInfo, InvertedIndex

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"


def _entries():
    for path in sorted((REPO / "regressions").glob("*.json")):
        spec = json.loads(path.read_text())
        for entry in spec["entries"]:
            marks = [pytest.mark.slow] if entry.get("slow") else []
            name = f"{path.stem}:{entry['dataset']}:{entry['mode']}"
            yield pytest.param(path.stem, entry, id=name, marks=marks)


@cache
def _encoded(model: str, dataset: str, split: str):
    data = load_dataset(DATA / dataset, split)
    encoder = load_encoder(model, "inference-free")
    idf = encoder.fit_idf(data.corpus.texts)
    return data, encoder.encode_documents(data.corpus.texts), idf


@pytest.mark.parametrize(("model", "entry"), list(_entries()))
def test_regression(model, entry, splade_tiny_path):
    if not (DATA / entry["dataset"]).is_dir():
        pytest.skip(f"{DATA / entry['dataset']} is not here")
    data, docs, idf = _encoded(model, entry["dataset"], entry["split"])
    mode = entry["mode"]
    index = InvertedIndex.from_matrix(
        docs, data.corpus.ids, EncoderInfo(model, mode), "uint8", idf=idf
    )
    encoder = load_encoder(model, mode, idf=idf)
    report = evaluate_index(index, data, encoder)
    for metric, expected in entry["metrics"].items():
        got = report.metrics[metric]
        assert got == pytest.approx(expected, abs=entry["tolerance"]), (
            f"{entry['command']}: {metric} {got:.4f}, expected {expected} ± {entry['tolerance']}"
        )
