"""eval.experiments.cache: while kept, a corpus is encoded (and a baseline run) once per content and
options; another corpus text, or the store off, computes again."""

from __future__ import annotations

from eval.data.datasets import load_dataset
from eval.experiments import cache
from eval.experiments.systems import Systems
from tests.conftest import write_beir

CORPUS = [
    {"_id": "d1", "title": "Wings", "text": "wind tunnel tests of a delta wing"},
    {"_id": "d2", "title": "", "text": "boundary layer heat transfer"},
]
QUERIES = [{"_id": "q1", "text": "delta wing"}]


def _data(tmp_path, corpus):
    folder = write_beir(tmp_path, corpus, QUERIES, [("q1", "d1", 1)])
    return load_dataset(folder, "test")


def _docs(data, **options):
    return Systems(data, show_progress=False, **options).documents()[0]


def test_same_corpus_and_options_encode_once(tmp_path, splade_tiny_path):
    assert cache.kept()  # on for the test session (tests/conftest.py)
    first = _docs(_data(tmp_path / "a", CORPUS))
    # Another folder with the same content; a lexical variant, another query length and
    # spire eval's explicit defaults: the same document vectors, so the same matrix object.
    same = _data(tmp_path / "b", CORPUS)
    assert _docs(same) is first
    options = {"lexical_weight": 1.0, "query_max_length": 16, "doc_max_length": 256}
    assert _docs(same, encoder_options=options) is first
    # Other document vectors: another text, another length limit.
    edited = [CORPUS[0], {**CORPUS[1], "text": "boundary layer heat transfer, edited"}]
    assert _docs(_data(tmp_path / "c", edited)) is not first
    assert _docs(same, encoder_options={"doc_max_length": 8}) is not first


def test_off_computes_every_time(tmp_path, monkeypatch, splade_tiny_path):
    data = _data(tmp_path, CORPUS)
    monkeypatch.setattr(cache, "_store", None)  # off (the default outside tests)
    first, again = _docs(data), _docs(data)
    assert first is not again
    assert (first != again).nnz == 0  # the same numbers, computed twice
