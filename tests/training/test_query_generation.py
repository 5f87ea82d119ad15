"""Generated pseudo-queries: the real SmolLM2-135M (from its PyPI wheel) writes them, a disk
cache keeps them, and pseudo_queries(kind="generated") ties each to its document."""

from __future__ import annotations

import os

import pytest

from spire.core.errors import SpireError
from training import query_generation as qg
from training.data import pseudo_queries


@pytest.fixture(scope="module")
def loaded_generator():
    """The real SmolLM2-135M, loaded once for the tests that generate (each load
    de-quantises its GGUF weights again)."""
    return qg.load_generator(qg.DEFAULT_GENERATOR)


@pytest.fixture()
def generator_home(tmp_path, monkeypatch, loaded_generator):
    """A SPIRE_HOME of its own (an empty query cache) that shares the pulled models, and
    the module's loaded generator."""
    from encoders.registry import pull_model

    models = pull_model("smollm2-135m").parent
    home = tmp_path / "home"
    home.mkdir()
    os.symlink(models, home / "models")
    monkeypatch.setenv("SPIRE_HOME", str(home))
    load = qg.load_generator
    monkeypatch.setattr(
        qg, "load_generator", lambda n: loaded_generator if n == qg.DEFAULT_GENERATOR else load(n)
    )
    return home


def _no_model(name):
    raise AssertionError(f"{name} was loaded although every query is cached")


def test_outputs_are_cleaned():
    outputs = [
        "how does x work\nPassage: more",
        " how  does x work ",  # a repeat once spaces are normalised
        qg.SHOTS[0][1],  # a copy of an example
        "word",
        "  two words ",
    ]
    assert qg._clean(outputs) == ["how does x work", "two words"]


def test_cache_key_covers_what_changes_the_queries():
    greedy = qg.GenerationSettings()
    assert greedy.key("a") != greedy.key("b")
    assert greedy.key("a") == qg.GenerationSettings(seed=99).key("a")  # greedy: no seed
    assert greedy.key("a") != qg.GenerationSettings(doc_tokens=80).key("a")
    sampled = qg.GenerationSettings(per_doc=2)
    assert sampled.key("a") != qg.GenerationSettings(per_doc=2, seed=99).key("a")


def test_generated_pseudo_queries_with_the_real_generator(
    generator_home, test_only_beir, monkeypatch
):
    data = pseudo_queries(test_only_beir, "generated", max_docs=3, seed=3, show_progress=False)
    texts = dict(zip(data.doc_ids, data.doc_texts, strict=True))
    assert 1 <= len(data.queries) <= 3
    for qid, query in data.queries.items():
        (doc,) = data.qrels[qid]
        assert qid == f"pq-{doc}-0" and doc in texts
        assert len(query.split()) >= 2 and "\n" not in query
        assert query not in {q for _, q in qg.SHOTS}
    (cache,) = (generator_home / "generated-queries").glob("*.json")
    assert len(qg.QueryCache(cache).entries) == 3
    # A rerun reads the cache alone, and gives the same queries.
    monkeypatch.setattr(qg, "load_generator", _no_model)
    again = pseudo_queries(test_only_beir, "generated", max_docs=3, seed=3, show_progress=False)
    assert again.queries == data.queries and again.qrels == data.qrels


def test_sampling_several_queries_a_document(generator_home):
    text = "Boundary layer transition on a flat plate at hypersonic speeds, in a shock tunnel."
    settings = qg.GenerationSettings(per_doc=3, max_new_tokens=16, seed=5)
    (queries,) = qg.generate_queries([text], settings=settings, show_progress=False)
    assert 1 <= len(queries) <= 3 and len(set(queries)) == len(queries)


def test_bad_generator_and_bad_cache(tmp_path):
    from encoders.loading import load_masked_lm

    with pytest.raises(SpireError, match="'smollm2-135m' is a causal LM"):
        load_masked_lm("smollm2-135m")  # refused as an encoder, before any download
    with pytest.raises(SpireError, match="query generator '/no/such/generator' could not"):
        qg.check_generator("/no/such/generator")
    broken = tmp_path / "cache.json"
    broken.write_text("{not json")
    with pytest.raises(SpireError, match="cache.json"):
        qg.QueryCache(broken)
    broken.write_text('{"abc": "not a list"}')
    with pytest.raises(SpireError, match="cache.json: not a generated-query cache"):
        qg.QueryCache(broken)
