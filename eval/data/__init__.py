"""Evaluation data: datasets (BEIR folders, JSONL, ir_datasets), JSONL and qrels files,
TREC runs, and pruning text. It imports only `spire.core`: every layer above it, fusion
in `retrieval` included, takes these objects as they are."""
