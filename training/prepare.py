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
    data, run = config.data, config.run
    sources = []
    if data.train_data is not None:
        path = Path(data.train_data).expanduser()
        if path.is_file():
            sources.append(load_triples(path))
        else:
            sources.append(load_beir_train(path, data.train_split))
    for spec in data.pseudo_queries_from:
        sources.append(
            pseudo_queries(
                spec,
                data.pseudo_query_kind,
                data.pseudo_queries_per_doc,
                data.pseudo_max_docs,
                run.seed,
                data.query_generator,
                run.show_progress,
            )
        )
    return sources


def prepare_data(config: TrainConfig) -> Prepared:
    """Dev queries come from the first source (the labelled one when there is one)."""
    data, seed = config.data, config.run.seed
    parts = []
    dev = None
    corpus: dict[str, None] = {}
    for i, source in enumerate(load_sources(config)):
        held_out = None
        if i == 0 and data.dev_queries:
            dev_seed = seed if data.dev_seed is None else data.dev_seed
            source, held_out = split_dev(source, data.dev_queries, dev_seed)
        source = limit_queries(source, data.max_queries, seed)
        everyone = source if held_out is None else _union(source, held_out)
        ranked = rank_candidates(
            everyone,
            data.negatives_from,
            max(data.negatives_depth, data.negatives),
            data.negatives_model,
            config.run.show_progress,
        )
        if held_out is not None:
            dev = build_dev_set(held_out, ranked)
        train_ranked = {q: ranked[q] for q in source.queries}
        negatives = sample_negatives(source, train_ranked, data.negatives, seed)
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
