"""Evaluation, in three layers (docs/architecture.md):

- `eval.data`: datasets, JSONL and qrels reading, TREC runs, pruning text; it imports
  only `spire.core`, so retrieval (fusion) can take a real `Run`;
- `eval.metrics`: ir-measures over a run and qrels;
- `eval.experiments`: the systems `spire eval` compares, the pipeline, the baselines
  and the plots, above retrieval.
"""
