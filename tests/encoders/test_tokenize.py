"""Texts are cut to a character bound before tokenising: the same tokens for any text
that fits, and a 5 MB document no longer tokenised whole."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from encoders.idf import document_frequencies
from encoders.loading import load_tokenizer
from encoders.tokenize import CHARS_PER_TOKEN, tokenize_truncated
from eval.data.datasets import load_corpus
from tests.conftest import BUNDLED_CRANFIELD


class Recording:
    """A real tokenizer that notes the longest text it was given."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.longest = 0

    def __call__(self, texts, **kwargs):
        self.longest = max([self.longest, *(len(t) for t in texts)])
        return self.tokenizer(texts, **kwargs)

    def __len__(self) -> int:
        return len(self.tokenizer)


@pytest.fixture(scope="module")
def tokenizer(splade_tiny_path):
    return load_tokenizer("splade-tiny")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        corpus = load_corpus(BUNDLED_CRANFIELD)
    joined = " ".join(corpus.texts)
    # Cranfield's abstracts and a few texts of several thousand characters, cut anywhere.
    return corpus.texts[:300] + [joined[i : i + n] for i, n in ((0, 3000), (777, 9000), (5, 30000))]


@pytest.fixture(scope="module")
def lengths(tokenizer, texts) -> list[int]:
    """Each text's token count, untruncated."""
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]


@pytest.mark.parametrize("max_length", [8, 64, 256])
def test_same_tokens_and_truncation_count_as_the_whole_text(tokenizer, texts, lengths, max_length):
    got, cut = tokenize_truncated(tokenizer, texts, max_length)
    whole = tokenizer(texts, add_special_tokens=True, truncation=True, max_length=max_length)
    assert got == whole["input_ids"]
    assert cut == sum(n > max_length for n in lengths)
    df = document_frequencies(tokenizer, texts, max_length)
    expected = np.zeros(len(tokenizer), dtype=np.int64)
    for ids in whole["input_ids"]:
        expected[np.unique(ids)] += 1
    assert (df == expected).all()


def test_a_5mb_document_is_cut_before_tokenising(tokenizer, texts):
    joined = " ".join(texts)
    big = (joined * (5_000_000 // len(joined) + 1))[:5_000_000]
    recording = Recording(tokenizer)
    (ids,), cut = tokenize_truncated(recording, [big], 256)
    assert recording.longest == 256 * CHARS_PER_TOKEN and cut == 1
    assert ids == tokenizer(big[:20_000], truncation=True, max_length=256)["input_ids"]
    recording.longest = 0
    df = document_frequencies(recording, [big], 256)
    assert recording.longest == 256 * CHARS_PER_TOKEN and df.sum() == len(set(ids))
