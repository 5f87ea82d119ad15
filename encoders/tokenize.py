"""Tokenise with truncation, counting the texts that were cut."""

from __future__ import annotations

from collections.abc import Sequence

# A tokenizer reads a whole text before it truncates: a 5 MB document took 53 s and
# 1.25 GB to yield its first 256 tokens. So a text is first cut to this many characters
# per token of `max_length`. A token of normal text spans 4 to 5 characters (English
# word pieces; spaces and punctuation included), so 100 is 20 times that, and the first
# `max_length` tokens of a cut text are those of the whole text. Only a text whose first
# tokens average over 100 characters (long runs of spaces, or words over 100 characters,
# which WordPiece reads as one [UNK]) keeps fewer of them.
CHARS_PER_TOKEN = 100


def cut_for_tokens(texts: Sequence[str], max_length: int) -> list[str]:
    """Each text cut to `max_length * CHARS_PER_TOKEN` characters, before tokenising."""
    bound = max_length * CHARS_PER_TOKEN
    return [text[:bound] for text in texts]


def tokenize_truncated(tokenizer, texts: Sequence[str], max_length: int) -> tuple[list, int]:
    """Token ids (with special tokens) of each text cut to `max_length`, and how many were cut.

    A fast tokenizer's overflow chunks reveal truncation in the same single pass: a text
    was cut exactly when it has more than one chunk. Its first chunk is the truncated text.
    A text over the character bound (cut_for_tokens) counts as cut too.
    """
    bound = max_length * CHARS_PER_TOKEN
    over_bound = [len(text) > bound for text in texts]
    encoded = tokenizer(
        cut_for_tokens(texts, max_length),
        add_special_tokens=True,
        truncation=True,
        max_length=max_length,
        return_overflowing_tokens=True,
    )
    mapping = encoded.get("overflow_to_sample_mapping")
    if mapping is None:  # slow tokenizers do not report overflow
        return list(encoded["input_ids"]), sum(over_bound)
    ids: list = [None] * len(texts)
    chunks = [0] * len(texts)
    for sample, seq in zip(mapping, encoded["input_ids"], strict=True):
        if ids[sample] is None:
            ids[sample] = seq
        chunks[sample] += 1
    return ids, sum(1 for c, over in zip(chunks, over_bound, strict=True) if c > 1 or over)
