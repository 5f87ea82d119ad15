"""Training data: triples, a BEIR train split (and never a test split), pseudo-queries,
held-out dev queries, hard negatives from BM25 and from our own index, and batches."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spire.core.errors import SpireError
from training.data import (
    check_train_split,
    limit_queries,
    load_beir_train,
    load_triples,
    pseudo_queries,
    split_dev,
)
from training.dataset import build_training_set
from training.mining import rank_candidates, sample_negatives


def test_toy_triples(toy_triples):
    data = load_triples(toy_triples)
    assert len(data.queries) == len(data.qrels) == len(data.negatives)
    assert 90 <= len(data.queries) <= 100  # 100 lines; a repeated query is one query
    qid = next(iter(data.qrels))
    (positive,) = data.qrels[qid]
    assert positive in data.doc_ids and data.negatives[qid][0] in data.doc_ids
    assert positive not in data.negatives[qid]


def test_beir_train_split_reads_train_only(tiny_beir):
    data = load_beir_train(tiny_beir)
    assert sorted(data.queries) == [f"q{i}" for i in range(1, 9)]
    assert data.qrels["q6"] == {"d6": 1, "d10": 1}
    assert not {"t1", "t2", "t3"} & set(data.queries)  # the test queries are never read
    assert len(data.doc_ids) == 12


@pytest.mark.parametrize("split", ["test", "dev", "Test", "validation", "val", "test2"])
def test_evaluation_splits_are_refused(tiny_beir, split):
    with pytest.raises(SpireError, match="evaluation split"):
        check_train_split(split)
    with pytest.raises(SpireError, match="evaluation split"):
        load_beir_train(tiny_beir, split)


def test_dataset_without_train_split(test_only_beir):
    with pytest.raises(SpireError, match=r"no 'train' split .*available: test"):
        load_beir_train(test_only_beir)


@pytest.mark.parametrize("kind", ["sentence", "span", "title"])
def test_pseudo_queries_come_from_the_corpus_alone(test_only_beir, kind):
    data = pseudo_queries(test_only_beir, kind, per_doc=1, seed=3)
    texts = dict(zip(data.doc_ids, data.doc_texts, strict=True))
    assert 1 <= len(data.queries) <= 12
    for qid, query in data.queries.items():
        (doc,) = data.qrels[qid]
        if kind == "title":
            assert texts[doc].startswith(query) and len(query.split()) >= 2
        else:
            assert all(word in texts[doc] for word in query.split())
    assert pseudo_queries(test_only_beir, kind, seed=3).queries == data.queries  # seeded


def test_ict_pseudo_queries_are_cut_out_of_their_documents(tmp_path):
    from eval.data.datasets import load_corpus

    corpus = tmp_path / "corpus.jsonl"
    lines = [
        {"_id": "a", "title": "Heat", "text": "Heat flows from hot to cold. Metals conduct heat "
         "well. Wood conducts it poorly. Air is a good insulator here."},
        {"_id": "b", "title": "Tiny", "text": "One short line here."},
    ]  # fmt: skip
    corpus.write_text("".join(json.dumps(line) + "\n" for line in lines))
    data = pseudo_queries(corpus, "ict", per_doc=1, seed=3)
    original = dict(zip(load_corpus(corpus).ids, load_corpus(corpus).texts, strict=True))
    texts = dict(zip(data.doc_ids, data.doc_texts, strict=True))
    (qid,) = data.queries  # any cut leaves b under 4 words: no query from it
    query = data.queries[qid]
    assert data.qrels[qid] == {"a": 1} and query in original["a"]
    assert query not in texts["a"] and len(texts["a"]) < len(original["a"])
    assert texts["b"] == original["b"]


def test_dev_split_and_query_limit_are_seeded_and_disjoint(tiny_beir):
    data = load_beir_train(tiny_beir)
    train, dev = split_dev(data, 2, seed=5)
    assert len(dev.queries) == 2 and len(train.queries) == 6
    assert not set(dev.queries) & set(train.queries)
    assert split_dev(data, 2, seed=5)[1].queries == dev.queries
    assert len(limit_queries(train, 3, seed=5).queries) == 3
    assert limit_queries(train, 0, seed=5) is train
    with pytest.raises(SpireError):
        split_dev(data, 8, seed=5)


def test_bm25_negatives_exclude_positives(tiny_beir):
    data = load_beir_train(tiny_beir)
    ranked = rank_candidates(data, "bm25", depth=5)
    assert "d1" not in ranked["q1"]
    # Other capitals share "capital" with "what is the capital of france": ranked first.
    assert set(ranked["q1"][:3]) == {"d2", "d7", "d11"}
    assert not {"d6", "d10"} & set(ranked["q6"])
    negatives = sample_negatives(data, ranked, 2, seed=1)
    assert all(len(v) == 2 for v in negatives.values())
    assert all(d not in data.qrels[q] for q, v in negatives.items() for d in v)
    assert sample_negatives(data, ranked, 2, seed=1) == negatives


def test_index_negatives_come_from_our_own_index(tiny_beir, splade_tiny_path):
    data = load_beir_train(tiny_beir)
    ranked = rank_candidates(data, "index", depth=4, model="splade-tiny")
    # A query may match nothing but its positive; sample_negatives then tops up at random.
    assert all(len(v) <= 4 for v in ranked.values())
    assert sum(len(v) > 0 for v in ranked.values()) >= 6
    assert "d1" not in ranked["q1"] and set(ranked["q1"]) <= set(data.doc_ids)


def test_training_set_and_batches(tiny_beir):
    data = load_beir_train(tiny_beir)
    negatives = sample_negatives(data, rank_candidates(data, "bm25", 5), 1, seed=0)
    train = build_training_set([(data, negatives)])
    assert len(train) == 9  # one example per (query, positive): q6 has two
    assert train.group_size == 2
    q6 = train.queries.index("which drinks contain caffeine")
    assert {train.doc_ids[d] for d in train.positives[q6]} == {"d6", "d10"}
    # Batches are a pure function of (step, seed) and walk seeded epochs.
    assert train.batch(3, 4, seed=1).tolist() == train.batch(3, 4, seed=1).tolist()
    epoch = np.concatenate([train.batch(s, 3, seed=1) for s in (1, 2, 3)])
    assert sorted(epoch.tolist()) == list(range(9))
    assert train.fingerprint() == build_training_set([(data, negatives)]).fingerprint()
