"""Length-sorted batches bounded by a padded-token budget rather than a text count."""

from __future__ import annotations

from collections.abc import Iterator, Sequence


def token_budget_batches(lengths: Sequence[int], tokens_per_batch: int) -> Iterator[list[int]]:
    """Yield index lists, longest texts first, each batch's padded size within the budget.

    Sorting by length keeps padding small; the budget keeps the B x L x vocab logits
    of a batch of long documents as small as a batch of many short queries.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batch: list[int] = []
    for i in order:
        padded_len = lengths[batch[0]] if batch else lengths[i]
        if batch and (len(batch) + 1) * padded_len > tokens_per_batch:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch
