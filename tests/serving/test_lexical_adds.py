"""Documents added to an index are encoded with the lexical term the index was built with
(its manifest), not whatever the model folder's lexical.json says now."""

from __future__ import annotations

import json

import pytest
import spire_server_fixtures as fx  # registered by conftest.py

from encoders import load_encoder
from encoders.lexical import Lexical, lexical_weights
from indexing import InvertedIndex, build_index
from retrieval import Searcher, open_index
from serving.server import create_app
from tests.conftest import LEXICAL

DOCS = {
    "a": "wind tunnel tests of a delta wing",
    "b": "boundary layer heat transfer in a wind tunnel",
    "c": "the wing the wing the wing of an airship",
}
NEW = "heat heat heat transfer through a delta wing " * 40 + "plum"
QUERY = "delta wing heat transfer plum"


def build(folder, model: str, weight: float | None):
    encoder = load_encoder(model, "inference-free", lexical_weight=weight)
    index = build_index(list(DOCS), list(DOCS.values()), encoder, "float32", show_progress=False)
    return index.save(folder)


def expected_score(model: str, idf, lexical: Lexical, text: str) -> float:
    """query @ (learned + lexical) for one document, computed without the index."""
    encoder = load_encoder(model, "inference-free", idf=idf, lexical_weight=0)
    doc = encoder.encode_documents([text]) + lexical_weights(encoder.tokenizer, [text], lexical)
    return float((encoder.encode_queries([QUERY]) @ doc.T).toarray()[0, 0])


def test_searchers_reload_the_recorded_lexical_term(tmp_path, lexical_model_path):
    folder = build(tmp_path / "ix", str(lexical_model_path), 2.0)  # the folder says 1.0
    recorded = Lexical(**{**LEXICAL, "weight": 2.0})
    assert InvertedIndex.load(folder).encoder.lexical == recorded.to_dict()
    assert Searcher(InvertedIndex.load(folder)).encoder.lexical == recorded
    assert open_index(folder).encoder.lexical == recorded
    # An index written without it (every older one) stays without it.
    old = build(tmp_path / "old", str(lexical_model_path), 0)
    assert "lexical" not in json.loads((old / "manifest.json").read_text())["encoder"]
    assert open_index(old).encoder.lexical == Lexical()


def test_server_adds_documents_with_the_recorded_lexical_term(tmp_path, lexical_model_path):
    model = str(lexical_model_path)
    folder = build(tmp_path / "ix", model, 2.0)
    recorded = Lexical(**{**LEXICAL, "weight": 2.0})
    idf = InvertedIndex.load(folder).idf
    with fx.LiveServer(create_app(folder)) as live, live.client() as client:
        added = client.post("/documents", json={"documents": [{"id": "new", "text": NEW}]})
        assert added.status_code == 200 and added.json()["added"] == 1
        hits = client.post("/search", json={"query": QUERY, "k": 10}).json()["results"][0]
    scores = {h["docid"]: h["score"] for h in hits["hits"]}
    assert scores["new"] == pytest.approx(expected_score(model, idf, recorded, NEW), 1e-5)
    assert scores["a"] == pytest.approx(expected_score(model, idf, recorded, DOCS["a"]), 1e-5)
    assert scores["new"] != pytest.approx(expected_score(model, idf, Lexical(**LEXICAL), NEW), 1e-3)
