"""PackedDocIds: lossless round trips at every block boundary and bit width, the derived
layout, and the checks a loader relies on (layout_problem, fault)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexing.postings_codec import BLOCK, MAX_WIDTH, PackedDocIds


def postings(lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, doc_ids) of term-major lists, each ascending."""
    indptr = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in lists], out=indptr[1:])
    flat = [d for x in lists for d in x]
    return indptr, np.asarray(flat, dtype=np.int32)


def round_trip(lists: list[list[int]]) -> PackedDocIds:
    indptr, doc_ids = postings(lists)
    packed = PackedDocIds.encode(indptr, doc_ids)
    np.testing.assert_array_equal(packed.decode(indptr), doc_ids)
    for t, docs in enumerate(lists):
        assert packed.decode_term(indptr, t).tolist() == docs
    # What a loader derives from the stored arrays is what the encoder built.
    again = PackedDocIds.from_stored(indptr, packed.first, packed.width, packed.words)
    np.testing.assert_array_equal(again.term_blocks, packed.term_blocks)
    np.testing.assert_array_equal(again.offset, packed.offset)
    assert again.layout_problem() == ("", "")
    n_docs = max((x[-1] for x in lists if x), default=-1) + 1
    assert packed.fault(indptr, n_docs) == ""
    return packed


@pytest.mark.parametrize("n", [0, 1, 2, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 2 * BLOCK + 1])
def test_every_block_boundary(n):
    rng = np.random.default_rng(n)
    docs = np.sort(rng.choice(10 * n + 5, size=n, replace=False)).tolist()
    packed = round_trip([docs, [], docs[:3]])
    blocks = -(-n // BLOCK)  # ceil
    assert packed.term_blocks.tolist() == [0, blocks, blocks, blocks + (n > 0)]


def test_consecutive_documents_pack_to_zero_bits():
    packed = round_trip([list(range(1000))])
    assert packed.width.tolist() == [0] * 8
    assert packed.words.size == 1  # only the spare word


def test_widest_gap():
    top = 2**31 - 1  # the largest int32 doc number
    packed = round_trip([[0, top], [5, 6, top - 1, top]])
    assert int(packed.width.max()) == MAX_WIDTH


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(0, 5000), max_size=400, unique=True).map(sorted),
        min_size=1,
        max_size=6,
    )
)
def test_random_lists_round_trip(lists):
    round_trip(lists)


def test_bytes_per_posting_on_a_dense_random_corpus():
    rng = np.random.default_rng(0)
    lists = [np.sort(rng.choice(20000, size=2000, replace=False)).tolist() for _ in range(20)]
    packed = round_trip(lists)
    # Gaps average 10, so a block's largest takes 6 bits: 0.8 bytes a posting with the
    # block headers, against 4 for a plain int32.
    assert packed.stored_nbytes() / 40000 < 0.85


def test_layout_problems_name_the_array():
    indptr, doc_ids = postings([list(range(0, 600, 2)), [3, 9]])
    packed = PackedDocIds.encode(indptr, doc_ids)
    short_first = PackedDocIds.from_stored(indptr, packed.first[:-1], packed.width, packed.words)
    assert short_first.layout_problem()[0] == "first"
    wide = packed.width.copy()
    wide[0] = 40
    assert (
        PackedDocIds.from_stored(indptr, packed.first, wide, packed.words).layout_problem()[0]
        == "width"
    )
    short_words = PackedDocIds.from_stored(indptr, packed.first, packed.width, packed.words[:-1])
    assert short_words.layout_problem()[0] == "words"


def test_fault_finds_bad_first_ids_and_bad_gaps():
    uneven = [2 * d + (d % 3 == 0) for d in range(300)]  # gaps of 1 to 3: 2-bit blocks
    indptr, doc_ids = postings([uneven, [3, 9]])
    packed = PackedDocIds.encode(indptr, doc_ids)
    assert packed.fault(indptr, 599) == ""
    assert packed.fault(indptr, 598) == "words"  # the last doc, 598, is out of range
    for bad in (-1, 600, 255):  # negative; past n_docs; before the previous block's last
        first = packed.first.copy()
        first[2] = bad
        broken = PackedDocIds(first, packed.width, packed.words, packed.term_blocks, packed.offset)
        assert broken.fault(indptr, 600) == "first", bad
    words = packed.words.copy()
    words[: packed.offset[1]] = 0xFFFFFFFF  # block 0's gaps overshoot block 1's first doc
    broken = PackedDocIds(packed.first, packed.width, words, packed.term_blocks, packed.offset)
    assert broken.fault(indptr, 600) == "words"


def test_doc_ids_that_do_not_ascend_are_refused():
    for docs in ([3, 3], [5, 2]):  # a repeated document; a step back
        indptr, doc_ids = postings([[0, 1], docs])
        with pytest.raises(ValueError, match="ascend"):
            PackedDocIds.encode(indptr, doc_ids)
