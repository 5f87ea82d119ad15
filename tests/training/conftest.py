"""Fixtures for the training tests: a tiny BEIR folder with train and test splits, the toy
triples, and one short real training run shared by the tests that inspect it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA, shared_data_missing, write_beir

TOY_TRIPLES = SHARED_DATA / "msmarco-toy-triples" / "train_triples.jsonl"

CORPUS = [
    ("d1", "Paris France", "Paris is the capital and largest city of France, on the Seine."),
    ("d2", "Berlin Germany", "Berlin is the capital of Germany and its largest city."),
    ("d3", "Cell energy", "The mitochondria is the powerhouse of the cell, making ATP."),
    ("d4", "Plant sugar", "Plants turn sunlight, water and carbon dioxide into sugar."),
    (
        "d5",
        "Volcanic eruptions",
        "A volcano erupts when magma rises through the crust of the earth.",
    ),
    ("d6", "Coffee drinks", "Coffee contains caffeine, a stimulant of the central nervous system."),
    ("d7", "Rome Italy", "Rome is the capital of Italy, founded on seven hills by the Tiber."),
    (
        "d8",
        "Insulin hormone",
        "Insulin lets cells take up glucose; diabetes follows when it fails.",
    ),
    ("d9", "Ice glaciers", "Glaciers are slow rivers of ice that carve valleys as they move."),
    ("d10", "Tea leaves", "Tea is brewed from the leaves of Camellia sinensis and holds caffeine."),
    ("d11", "Madrid Spain", "Madrid is the capital of Spain and sits on the Manzanares river."),
    ("d12", "Vaccines work", "Vaccines train the immune system to recognise a pathogen early."),
]
TRAIN = [
    ("q1", "what is the capital of france", "d1"),
    ("q2", "german capital city", "d2"),
    ("q3", "where does the cell get its energy", "d3"),
    ("q4", "how do plants make sugar from light", "d4"),
    ("q5", "why do volcanoes erupt", "d5"),
    ("q6", "which drinks contain caffeine", "d6"),
    ("q6", "which drinks contain caffeine", "d10"),
    ("q7", "city built on seven hills", "d7"),
    ("q8", "hormone that controls blood glucose", "d8"),
]
TEST = [
    ("t1", "capital of spain", "d11"),
    ("t2", "how do glaciers shape valleys", "d9"),
    ("t3", "how vaccines protect against disease", "d12"),
]


@pytest.fixture(scope="session")
def tiny_beir(tmp_path_factory) -> Path:
    """A BEIR folder with a train split (8 queries, q6 with two positives) and a test
    split of different queries."""
    folder = tmp_path_factory.mktemp("beir") / "tiny"
    corpus = [{"_id": i, "title": t, "text": x} for i, t, x in CORPUS]
    queries = {q: text for q, text, _ in TRAIN + TEST}
    query_rows = [{"_id": q, "text": t} for q, t in queries.items()]
    write_beir(folder, corpus, query_rows, [(q, d, 1) for q, _, d in TEST], split="test")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q, _, d in TRAIN]
    (folder / "qrels" / "train.tsv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="session")
def test_only_beir(tmp_path_factory) -> Path:
    """A BEIR folder with only a test split (like Cranfield)."""
    folder = tmp_path_factory.mktemp("beir") / "testonly"
    corpus = [{"_id": i, "title": t, "text": x} for i, t, x in CORPUS]
    query_rows = [{"_id": q, "text": t} for q, t, _ in TEST]
    return write_beir(folder, corpus, query_rows, [(q, d, 1) for q, _, d in TEST], split="test")


@pytest.fixture(scope="session")
def toy_triples() -> Path:
    if not TOY_TRIPLES.is_file():
        shared_data_missing(TOY_TRIPLES)
    return TOY_TRIPLES


def quick_config(output: Path, train_data: Path, **changes):
    """A config small enough for a few seconds a step on two busy cores."""
    from training import TrainConfig

    base = dict(
        output=str(output),
        train_data=str(train_data),
        negatives_from="data",
        negatives=1,
        steps=20,
        batch_size=2,
        lr=3e-4,
        query_max_length=12,
        doc_max_length=24,
        flops_d_lambda=1e-3,
        flops_d_warmup=10,
        show_progress=False,
        threads=1,  # faster than two on busy cores; see RunConfig.threads
        teacher_cache=str(output.parent / "teacher-cache"),
    )
    base.update(changes)
    return TrainConfig.from_dict(base)


@pytest.fixture(scope="session")
def toy_run(tmp_path_factory, toy_triples, splade_tiny_path):
    """20 real steps on the toy triples, with checkpoints at steps 10 and 20."""
    from training import train

    root = tmp_path_factory.mktemp("toy-run")
    config = quick_config(root / "model", toy_triples, save_every=10)
    return config, train(config)
