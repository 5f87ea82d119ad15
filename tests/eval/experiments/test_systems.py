"""eval.experiments.systems: the inference-free lexical term is added to its own index only."""

from __future__ import annotations

import pytest

from eval.data.datasets import load_dataset
from eval.experiments.systems import Systems
from indexing import InvertedIndex
from tests.conftest import LEXICAL, write_beir

CORPUS = [
    {"_id": "d1", "title": "Wings", "text": "wind tunnel tests of a delta wing"},
    {"_id": "d2", "title": "", "text": "boundary layer heat transfer heat heat"},
    {"_id": "d3", "title": "", "text": "the airship hangar " * 100 + "plum"},
]
QUERIES = [{"_id": "q1", "text": "delta wing"}, {"_id": "q2", "text": "heat transfer plum"}]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    qrels = [("q1", "d1", 1), ("q2", "d2", 1)]
    folder = write_beir(tmp_path_factory.mktemp("beir"), CORPUS, QUERIES, qrels)
    return load_dataset(folder, "test")


def runs(data, model: str, names=("siamese", "inference-free"), **options) -> dict:
    systems = Systems(data, model=model, impact_dtype="float32", show_progress=False, **options)
    return {name: flat(systems.run(name).run) for name in names}


def flat(run) -> dict:
    return {(q, d): score for q, hits in run.items() for d, score in hits.items()}


def test_lexical_term_is_added_to_the_inference_free_index_only(data, tmp_path, lexical_model_path):
    folder = str(lexical_model_path)  # lexical.json: LEXICAL
    plain = runs(data, "splade-tiny")
    lexical = runs(data, folder, save_index=tmp_path / "ix", overwrite=True)
    params = {k: v for k, v in LEXICAL.items() if k != "weight"}
    options = {"lexical_weight": 1, "lexical_params": params}
    by_weight = runs(data, "splade-tiny", ["inference-free"], encoder_options=options)
    off = runs(data, folder, encoder_options={"lexical_weight": 0})
    assert lexical["siamese"] == pytest.approx(plain["siamese"])  # shared vectors, no term
    assert lexical["inference-free"] == pytest.approx(by_weight["inference-free"])
    assert off["inference-free"] == pytest.approx(plain["inference-free"])
    assert lexical["inference-free"]["q2", "d3"] > plain["inference-free"].get(("q2", "d3"), 0)
    saved = InvertedIndex.load(tmp_path / "ix").encoder  # the last one saved: inference-free
    assert saved.mode == "inference-free" and saved.lexical == LEXICAL


def test_lexical_variant_reuses_the_encoding_and_matches_a_fresh_run(data, lexical_model_path):
    params = {k: v for k, v in LEXICAL.items() if k != "weight"}
    base = Systems(data, model="splade-tiny", impact_dtype="float32", show_progress=False)
    plain = flat(base.run("inference-free").run)
    variant = base.lexical_variant(1.0, params)
    assert variant.documents() is base.documents()  # nothing re-encoded
    fresh = runs(data, str(lexical_model_path), ["inference-free"])["inference-free"]
    assert flat(variant.run("inference-free").run) == pytest.approx(fresh)
    assert flat(base.run("inference-free").run) == plain  # the original is untouched
    assert flat(base.lexical_variant(0.0).run("inference-free").run) == pytest.approx(plain)
