"""The inverted index: build from document vectors, save atomically, load memory-mapped."""

from __future__ import annotations

from collections.abc import Sequence

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
    """Encode a corpus with `encoder` and build its index (fitting IDF when inference-free);
    `compression` "bitpack" (default) packs the doc ids, "none" keeps them plain int32.

    The ids follow spire.core.ids (int ids become their str); ids, texts and encoder are all
    checked before any encoding work."""
    docids = check_ids(docids, "docids")
    texts = check_texts(texts, len(docids))
    check_encoder(encoder)
    idf = None
    if encoder.mode == "inference-free":
        idf = encoder.idf if encoder.idf is not None else encoder.fit_idf(texts)
    docs = encoder.encode_documents(texts, show_progress=show_progress)
    return InvertedIndex.from_matrix(
        docs, docids, EncoderInfo.of(encoder), impact_dtype, idf=idf, compression=compression
    )


__all__ = ["DEFAULT_COMPRESSION", "EncoderInfo", "InvertedIndex", "build_index"]
