"""The inference-free query side's tokenizer without torch: transformers' own backend,
saved once and read with `tokenizers` alone, must give the same ids as transformers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import encoders.query_tokenizer as qt
from encoders.loading import load_tokenizer
from eval.data.datasets import load_corpus
from tests.conftest import BUNDLED_CRANFIELD

ODD = [
    "",
    "   ",
    "Crème brûlée à la carte, naïve café",
    "東京 の 空港 и Москва",
    "emoji 🚀🔥 and [MASK] or [SEP] typed in",
    "hyphen-ated, dotted.words; e.g. U.S.A. (1950-1960)",
    "x" * 300,
]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Cranfield's two empty documents
        corpus = load_corpus(BUNDLED_CRANFIELD)
    return corpus.texts[:300] + ODD


@pytest.fixture(scope="module")
def pair(splade_tiny_path, tmp_path_factory):
    """(transformers' tokenizer, BackendTokenizer read back from a fresh cache folder)."""
    home = tmp_path_factory.mktemp("spire-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(qt, "spire_home", lambda: home)
        written = qt.load_query_tokenizer("splade-tiny")  # cache miss: writes the file
        assert isinstance(written, qt.BackendTokenizer)
        assert len(list((home / "tokenizers").glob("*.json"))) == 1
        read = qt.load_query_tokenizer("splade-tiny")  # cache hit: tokenizers only
    assert isinstance(read, qt.BackendTokenizer)
    return load_tokenizer("splade-tiny"), read


@pytest.mark.parametrize(
    "kwargs",
    [
        {"add_special_tokens": False, "truncation": True, "max_length": 62},  # queries
        {"add_special_tokens": True, "truncation": True, "max_length": 256},  # df
        {"add_special_tokens": True, "truncation": True, "max_length": 8},
        {"add_special_tokens": False, "verbose": False},  # lexical term counts
    ],
    ids=["query", "df", "short", "whole"],
)
def test_same_ids_as_transformers(pair, texts, kwargs):
    full, light = pair
    assert light(texts, **kwargs)["input_ids"] == full(texts, **kwargs)["input_ids"]


def test_same_vocabulary_word_ids_and_tokens(pair, texts):
    full, light = pair
    assert len(light) == len(full) and light.get_vocab() == full.get_vocab()
    for text in texts[:50] + ODD:
        want = full(text, add_special_tokens=False)
        got = light(text, add_special_tokens=False)
        assert got["input_ids"] == want["input_ids"] and got.word_ids() == want.word_ids()
        assert light.convert_ids_to_tokens(got["input_ids"]) == full.convert_ids_to_tokens(
            want["input_ids"]
        )


def test_one_id_gives_one_token_as_transformers_does(pair):
    full, light = pair
    for token_id in (0, 2000, np.int64(2000), len(full) - 1):
        assert light.convert_ids_to_tokens(token_id) == full.convert_ids_to_tokens(int(token_id))


def test_a_changed_tokenizer_file_gets_a_new_cache_entry(splade_tiny_path, tmp_path):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(splade_tiny_path, folder)
    before = qt._key(folder)
    config = folder / "tokenizer_config.json"
    config.write_text(config.read_text().replace("{", '{"model_max_length": 77, ', 1))
    assert qt._key(folder) != before


ASCII_ODD = [
    "don't stop--now!! (e.g. 3.5%)",
    "tabs\tand\nnew\rlines",
    "a control\x01char and \x0bvertical tab",  # cleaned away by the normaliser: backend
    "[MASK] typed in, [mask] lowercase",  # an added token: backend
    "a" * 99 + " " + "b" * 101,  # WordPiece's 100-character word limit
    "caps AND MiXeD 42nd",
]


@pytest.mark.parametrize("max_length", [1, 5, 62])
def test_query_ids_are_the_backends_ids(pair, texts, max_length):
    """The cached-word fast path (plain ASCII) and its fall-back give transformers' ids."""
    full, light = pair
    rng = np.random.default_rng(0)
    alphabet = np.array(list(" \t\nabcxyzQ09.,-'\"!?#$()[]{}/\\~`é\x01"))
    noise = ["".join(rng.choice(alphabet, size=rng.integers(0, 30))) for _ in range(300)]
    queries = texts + ASCII_ODD + noise
    want = full(queries, add_special_tokens=False, truncation=True, max_length=max_length)
    assert light.query_ids(queries, max_length) == want["input_ids"]
    assert light.query_ids(queries, max_length) == want["input_ids"]  # from the word cache
