"""Experiments: the systems `spire eval` compares (`systems`), the pipeline that runs and
scores them (`pipeline`), the Lucene and dense baselines, the per-session cache of
encoded corpora and the plots. It sits above retrieval and reads `eval.data`."""
