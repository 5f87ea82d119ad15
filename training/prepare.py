"""From a TrainConfig to the arrays a run iterates: load every source, hold out dev queries,
mine and sample negatives, and pick the corpus the initial IDF is counted on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import TrainConfig
from .data import (
    Labelled,
    limit_queries,
    load_beir_train,
    load_triples,
    pseudo_queries,
    split_dev,
)
from .dataset import DevSet, TrainingSet, build_dev_set, build_training_set
from .mining import rank_candidates, sample_negatives


@dataclass
class Prepared:
    train: TrainingSet
    dev: DevSet | None
    corpus: list[str]  # every document of every source, for IDF and BM25 statistics


def load_sources(config: TrainConfig) -> list[Labelled]:
    sources = []
    if config.train_data is not None:
        path = Path(config.train_data).expanduser()
        if path.is_file():
            sources.append(load_triples(path))
        else:
            sources.append(load_beir_train(path, config.train_split))
    for spec in config.pseudo_queries_from:
        sources.append(
            pseudo_queries(
                spec,
                config.pseudo_query_kind,
                config.pseudo_queries_per_doc,
                config.pseudo_max_docs,
                config.seed,
                config.query_generator,
                config.show_progress,
            )
        )
    return sources


def prepare_data(config: TrainConfig) -> Prepared:
    """Dev queries come from the first source (the labelled one when there is one)."""
    parts = []
    dev = None
    corpus: dict[str, None] = {}
    for i, source in enumerate(load_sources(config)):
        held_out = None
        if i == 0 and config.dev_queries:
            dev_seed = config.seed if config.dev_seed is None else config.dev_seed
            source, held_out = split_dev(source, config.dev_queries, dev_seed)
        source = limit_queries(source, config.max_queries, config.seed)
        everyone = source if held_out is None else _union(source, held_out)
        ranked = rank_candidates(
            everyone,
            config.negatives_from,
            max(config.negatives_depth, config.negatives),
            config.negatives_model,
            config.show_progress,
        )
        if held_out is not None:
            dev = build_dev_set(held_out, ranked)
        train_ranked = {q: ranked[q] for q in source.queries}
        negatives = sample_negatives(source, train_ranked, config.negatives, config.seed)
        parts.append((source, negatives))
        corpus.update(dict.fromkeys(source.doc_texts))
    return Prepared(build_training_set(parts), dev, list(corpus))


def _union(a: Labelled, b: Labelled) -> Labelled:
    """Two query subsets of one source, over its one corpus."""
    return Labelled(
        a.name,
        a.doc_ids,
        a.doc_texts,
        {**a.queries, **b.queries},
        {**a.qrels, **b.qrels},
        {**a.negatives, **b.negatives},
    )
