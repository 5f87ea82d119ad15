"""Baselines scored by the same metrics code as our own runs: Lucene BM25, Lucene impact
search over our vectors, and dense retrieval with faiss."""
