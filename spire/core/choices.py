"""The names every surface offers for one setting: the Python API checks them, the CLI
builds its choices from them (spire/cli/options.py) and the HTTP schemas validate
against them, so a new value is added here once. They live in the floor because the
CLI must read them without importing the packages that implement them (torch, numba)."""

from __future__ import annotations

MODES = ("siamese", "inference-free")  # siamese: the model encodes queries too
IDF_SOURCES = ("model", "corpus")  # an inference-free query's IDF: idf.json, or fitted
HEADS = ("auto", "pruned", "chunked", "reference")  # SPLADE's vocabulary projection
TORCH_PRECISIONS = ("fp32", "bf16")  # a transformers model folder
PRECISIONS = (*TORCH_PRECISIONS, "int8")  # int8: the quantised graph of an ONNX folder
IMPACT_DTYPES = ("uint8", "uint16", "float32")  # stored impacts, quantised or float
FUSION_METHODS = ("rrf", "minmax", "zscore")  # retrieval.fusion.METHODS implements each
