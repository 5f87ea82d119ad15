"""spire: learned sparse retrieval.

The public API is small and loaded lazily, so `import spire` (and `spire --help`)
does not pay for torch::

    import spire
    enc = spire.load_encoder("splade-tiny", mode="inference-free")
    index = spire.build_index(corpus, enc)
    hits = spire.Searcher(index, enc).search("what is the capital of france", k=10)
    hits = spire.open_index("idx/scifact").search("statins", k=10)  # plain or segmented
    report = spire.evaluate("path/to/beir/scifact", "splade-tiny", split="test")
"""

from spire.core.lazy import lazy_exports
from spire.core.version import __version__

_EXPORTS = {
    "SpireError": "spire.core.errors",
    "load_encoder": "encoders",
    "pull_model": "encoders.registry",
    "InvertedIndex": "indexing",
    "build_index": "indexing",
    "Searcher": "retrieval",
    "open_index": "retrieval",
    "Dataset": "eval.data.datasets",
    "load_dataset": "eval.data.datasets",
    "load_corpus": "eval.data.datasets",
    "Run": "eval.data.run",
    "evaluate": "eval.experiments.pipeline",
    "compare": "eval.experiments.pipeline",
    "compute_metrics": "eval.metrics",
    "load_dense_encoder": "encoders.dense",
    "DenseIndex": "indexing.dense_index",
    "DenseSearcher": "retrieval.dense_searcher",
    "fuse": "retrieval.fusion",
    "export_index": "indexing.export",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

__getattr__ = lazy_exports(__name__, _EXPORTS)
