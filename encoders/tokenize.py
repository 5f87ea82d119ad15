"""Tokenise with truncation, counting the texts that were cut."""

from __future__ import annotations

from collections.abc import Sequence


def tokenize_truncated(tokenizer, texts: Sequence[str], max_length: int) -> tuple[list, int]:
    """Token ids (with special tokens) of each text cut to `max_length`, and how many were cut.

    A fast tokenizer's overflow chunks reveal truncation in the same single pass: a text
    was cut exactly when it has more than one chunk. Its first chunk is the truncated text.
    """
    encoded = tokenizer(
        list(texts),
        add_special_tokens=True,
        truncation=True,
        max_length=max_length,
        return_overflowing_tokens=True,
    )
    mapping = encoded.get("overflow_to_sample_mapping")
    if mapping is None:  # slow tokenizers do not report overflow
        return list(encoded["input_ids"]), 0
    ids: list = [None] * len(texts)
    chunks = [0] * len(texts)
    for sample, seq in zip(mapping, encoded["input_ids"], strict=True):
        if ids[sample] is None:
            ids[sample] = seq
        chunks[sample] += 1
    return ids, sum(1 for c in chunks if c > 1)
