"""The lexical term of inference-free document vectors (encoders/lexical.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from encoders import load_encoder
from encoders.lexical import Lexical, lexical_weights, load_lexical, save_lexical, term_counts
from spire.core.errors import SpireError
from tests.conftest import LEXICAL


@pytest.fixture(scope="module")
def tokenizer(inference_free_encoder):
    return inference_free_encoder.tokenizer


def test_saturated_term_frequency_by_hand(tokenizer):
    vocab = tokenizer.get_vocab()
    row = lexical_weights(tokenizer, ["the cat the cat the dog"], Lexical(1.0, 0.9))
    assert row.shape == (1, len(tokenizer)) and row.dtype == np.float32
    got = {int(t): float(w) for t, w in zip(row.indices, row.data, strict=True)}
    assert got == pytest.approx(
        {vocab["the"]: 3 * 1.9 / 3.9, vocab["cat"]: 2 * 1.9 / 2.9, vocab["dog"]: 1.0}
    )
    double = lexical_weights(tokenizer, ["the cat the cat the dog"], Lexical(2.0, 0.9))
    np.testing.assert_allclose(double.data, 2 * row.data, rtol=1e-6)


def test_empty_text_is_an_empty_row_and_no_texts_no_rows(tokenizer):
    rows = lexical_weights(tokenizer, ["", "dog", "   "], Lexical(1.0))
    assert rows.shape == (3, len(tokenizer))
    assert rows[0].nnz == 0 and rows[1].nnz == 1 and rows[2].nnz == 0
    assert term_counts(tokenizer, []).shape == (0, len(tokenizer))


def test_the_whole_text_counts_beyond_doc_max_length(tokenizer):
    vocab = tokenizer.get_vocab()
    counts = term_counts(tokenizer, ["word " * 600 + "plum"], chunk=1)
    assert counts[0, vocab["word"]] == 600 and counts[0, vocab["plum"]] == 1


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('["weight", 1]', "expected an object"),
        ('{"weight": 1, "bee": 0.4}', "unknown field 'bee'"),
        ('{"weight": 1, "b": 0.4}', "needs avgdl"),
        ('{"weight": "1"}', "field 'weight' must be a number"),
        ('{"weight": true}', "field 'weight' must be a number"),
        ('{"weight": -1}', "weight must be a finite number >= 0"),
        ('{"weight": 1, "k1": 0}', "k1 must be a finite number > 0"),
        ('{"weight": 1, "stem_class_max": 2.5}', "stem_class_max must be a whole number"),
        ('{"weight": 1, "stem_class_max": -1}', "stem_class_max must be a whole number"),
    ],
    ids=[
        "invalid-json",
        "not-object",
        "unknown-field",
        "b-no-avgdl",
        "string",
        "bool",
        "negative",
        "k1-zero",
        "stem-fraction",
        "stem-negative",
    ],
)
def test_bad_lexical_json_is_one_line_naming_the_file(tmp_path, content, fragment):
    (tmp_path / "lexical.json").write_text(content)
    with pytest.raises(SpireError, match=fragment) as info:
        load_lexical(tmp_path)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "lexical.json") in message


def test_lexical_json_round_trip_and_absent_is_off(tmp_path):
    assert load_lexical(tmp_path) == Lexical() and not Lexical().enabled
    save_lexical(Lexical(0.5, 1.2, 0.4, 250.0), tmp_path)
    assert load_lexical(tmp_path) == Lexical(0.5, 1.2, 0.4, 250.0)
    saved = json.loads((tmp_path / "lexical.json").read_text())
    assert saved == {"weight": 0.5, "k1": 1.2, "b": 0.4, "avgdl": 250.0, "stem_class_max": 0}
    save_lexical(Lexical(1.0, stem_class_max=4), tmp_path)
    assert load_lexical(tmp_path) == Lexical(1.0, stem_class_max=4)
    (tmp_path / "lexical.json").write_text('{"weight": 0.5, "k1": 1.2}')  # b, avgdl: 0
    assert load_lexical(tmp_path) == Lexical(0.5, 1.2)


def test_encoder_with_lexical_adds_its_weights(lexical_model_path):
    texts = ["the cat the cat the dog", "", "wind tunnel " * 300 + "plum"]
    enc = load_encoder(str(lexical_model_path), "inference-free")
    assert enc.lexical == Lexical(**LEXICAL)
    off = load_encoder(str(lexical_model_path), "inference-free", lexical_weight=0)
    got, learned = enc.encode_documents(texts), off.encode_documents(texts)
    expected = learned + lexical_weights(enc.tokenizer, texts, enc.lexical)
    assert got.dtype == np.float32 and got.shape == learned.shape and got.has_sorted_indices
    assert abs(got - expected).max() == pytest.approx(0, abs=1e-6)
    assert got[2, enc.tokenizer.get_vocab()["plum"]] > 0  # past doc_max_length


def test_load_encoder_lexical_overrides(lexical_model_path, splade_tiny_path):
    folder = str(lexical_model_path)
    assert load_encoder("splade-tiny", "inference-free").lexical == Lexical()  # no file: off
    assert load_encoder("splade-tiny", "inference-free", lexical_weight=1.5).lexical == Lexical(
        1.5, 0.9
    )
    assert load_encoder(folder, "inference-free", lexical_weight=2).lexical == Lexical(
        **{**LEXICAL, "weight": 2.0}
    )
    assert load_encoder(folder, "inference-free", lexical_weight=0).lexical == Lexical()
    params = {"k1": 1.2}
    got = load_encoder(folder, "inference-free", lexical_params=params).lexical
    assert got == Lexical(**{**LEXICAL, "k1": 1.2})
    with pytest.raises(SpireError, match="weight must be a finite number >= 0"):
        load_encoder(folder, "inference-free", lexical_weight=-1)
    with pytest.raises(SpireError, match="for mode inference-free"):
        load_encoder(folder, "siamese", lexical_weight=1)
    # A siamese encoder's lexical term is off (encoders/sides.py), whatever the folder says.
    assert load_encoder(folder, "siamese", lexical_weight=0).lexical == Lexical()


def test_length_normalisation_is_bm25s(splade_tiny_path):
    """b > 0: k1 (1 - b + b dl / avgdl) replaces k1; dl counts the document's word pieces."""
    from encoders.lexical import Lexical, lexical_weights
    from encoders.loading import load_tokenizer

    tokenizer = load_tokenizer("splade-tiny")
    texts = ["the cat the cat the dog", "cat"]  # 6 and 1 word pieces
    lexical = Lexical(2.0, 0.9, 0.5, avgdl=4.0)
    got = lexical_weights(tokenizer, texts, lexical).toarray()
    vocab = tokenizer.get_vocab()
    long_k = 0.9 * (1 - 0.5 + 0.5 * 6 / 4)
    assert got[0, vocab["the"]] == pytest.approx(2 * 3 * 1.9 / (3 + long_k))
    assert got[0, vocab["dog"]] == pytest.approx(2 * 1.9 / (1 + long_k))
    assert got[1, vocab["cat"]] == pytest.approx(2 * 1.9 / (1 + 0.9 * (1 - 0.5 + 0.5 / 4)))
    with pytest.raises(SpireError, match="needs avgdl"):
        Lexical(1.0, 0.9, 0.4)
    with pytest.raises(SpireError, match="between 0 and 1"):
        Lexical(1.0, 0.9, 1.5, 10.0)


def test_stem_classes_count_a_word_and_its_inflections_as_one_term(tokenizer):
    """The words extend, extended, extending and extends are one Snowball class of four
    whole-word pieces: with classes of up to 4, each member weighs tf 3 (the document's
    three forms); "cat" lends its weight to "cats"."""
    vocab = tokenizer.get_vocab()
    text = "extended extending extends cat"
    row = lexical_weights(tokenizer, [text], Lexical(1.0, 0.9, stem_class_max=4))
    got = {int(t): float(w) for t, w in zip(row.indices, row.data, strict=True)}
    family = ["extend", "extended", "extending", "extends"]
    expected = {vocab[w]: 3 * 1.9 / 3.9 for w in family} | {vocab["cat"]: 1.0, vocab["cats"]: 1.0}
    assert got == pytest.approx(expected)
    # A class larger than the maximum is left as exact pieces.
    small = lexical_weights(tokenizer, [text], Lexical(1.0, 0.9, stem_class_max=3)).toarray()
    exact = lexical_weights(tokenizer, [text], Lexical(1.0, 0.9))
    assert small[0, vocab["extend"]] == 0 and small[0, vocab["extends"]] == 1.0
    assert small[0, vocab["cats"]] == 1.0 and exact.nnz == 4
    # Length normalisation counts the text's 4 word pieces, not its class members.
    normed = lexical_weights(tokenizer, [text], Lexical(1.0, 0.9, 0.5, 2.0, stem_class_max=4))
    k = 0.9 * (1 - 0.5 + 0.5 * 4 / 2.0)
    assert normed[0, vocab["extend"]] == pytest.approx(3 * 1.9 / (3 + k))


def test_stem_classes_never_group_word_piece_continuations(tokenizer):
    from encoders.lexical import stem_classes

    classes = stem_classes(tokenizer, 4)
    assert classes is stem_classes(tokenizer, 4)  # built once per tokenizer
    inverse = {i: t for t, i in tokenizer.get_vocab().items()}
    rows, cols = classes.nonzero()
    grouped = rows != cols
    assert grouped.any()
    assert all(inverse[r].isalpha() and inverse[c].isalpha() for r, c in
               zip(rows[grouped], cols[grouped], strict=True))  # fmt: skip
    assert (classes.diagonal() == 1).all()  # every piece counts itself
    sizes = np.diff(classes.indptr)
    assert sizes.max() <= 4
