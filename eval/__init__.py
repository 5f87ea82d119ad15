"""Evaluation: datasets, runs, metrics and the end-to-end pipeline."""
