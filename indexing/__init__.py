"""The inverted index: build from document vectors, save atomically, load memory-mapped."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from spire.core.arguments import check_encoder, check_texts
from spire.core.ids import check_ids

from .inverted_index import DEFAULT_COMPRESSION, InvertedIndex
from .manifest import EncoderInfo


def build_index(
    docids: Sequence[str],
    texts: Sequence[str],
    encoder,
    impact_dtype: str = "uint8",
    show_progress: bool = True,
    compression: str = DEFAULT_COMPRESSION,
) -> InvertedIndex:
    """Encode a corpus with `encoder` and build its index (with its query-term weights);
    `compression` "bitpack" (default) packs the doc ids, "none" keeps them plain int32.

    The ids follow spire.core.ids (int ids become their str); ids, texts and encoder are all
    checked before any encoding work."""
    docids = check_ids(docids, "docids")
    texts = check_texts(texts, len(docids))
    check_encoder(encoder)
    query_weights(encoder, texts)
    docs = encoder.encode_documents(texts, show_progress=show_progress)
    return index_vectors(docs, docids, encoder, impact_dtype, compression)


def index_vectors(
    docs: sp.csr_matrix,
    docids: Sequence[str],
    encoder,
    impact_dtype: str = "uint8",
    compression: str = DEFAULT_COMPRESSION,
) -> InvertedIndex:
    """The index of document vectors `encoder` wrote (all of them: with its lexical term),
    with the encoder's query-term weights (`encoder.idf`, None for a siamese encoder).
    `build_index` encodes and calls it; `spire eval` (eval/experiments/systems.py) calls
    it on document vectors it encoded once for several systems."""
    return InvertedIndex.from_matrix(
        docs,
        docids,
        EncoderInfo.of(encoder),
        impact_dtype,
        idf=encoder.idf,
        compression=compression,
    )


def query_weights(encoder, texts: Sequence[str]) -> np.ndarray | None:
    """The query-term weights an index of `texts` stores for `encoder` (idf.npy): its own
    table, else one fitted on `texts` (which sets `encoder.idf`); None where the model
    encodes queries (encoders/sides.py)."""
    return encoder.idf if encoder.idf is not None else encoder.fit_idf(texts)


__all__ = [
    "DEFAULT_COMPRESSION",
    "EncoderInfo",
    "InvertedIndex",
    "build_index",
    "index_vectors",
    "query_weights",
]
