"""An encoder's query side, as attributes that callers read instead of a mode string.

An encoder is a document side plus a query side (`SparseEncoder` in encoders/__init__.py).
The query side is either the model itself (siamese: `SpladeEncoder`, `OnnxSpladeEncoder`,
which take `ModelQueries`) or a static table: the IDF of each vocabulary id
(`InferenceFreeEncoder`: a query is its distinct pieces times `idf`). An index stores the
table as optional query-term weights without knowing why: `encoder.idf` when set, else
`encoder.fit_idf(texts)`, which is None for a model query side.
"""

from __future__ import annotations

from collections.abc import Sequence

from .lexical import Lexical


class ModelQueries:
    """The query side of a siamese encoder: the model encodes queries, so there is no
    IDF table to store or fit, and documents carry no lexical term."""

    mode = "siamese"
    idf = None
    idf_from = None
    lexical = Lexical()  # off: a model's query is not a bag of pieces

    def fit_idf(self, texts: Sequence[str]) -> None:
        """No query-term weights to fit: the model weighs each query itself."""
        return None
