"""Dev evaluation during training: held-out train queries searched against the whole
corpus (the default), or re-ranking their pools; a step-0 evaluation before training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.training.conftest import CORPUS, TEST, quick_config


@pytest.fixture(scope="module")
def dev_and_student(tiny_beir, tmp_path_factory, splade_tiny_path):
    from training.models import build_from_config
    from training.prepare import prepare_data

    # negatives_depth 1: each pool is a query's positives and one candidate, so a
    # ranking over the corpus is easy to tell from a ranking over the pool.
    config = quick_config(
        tmp_path_factory.mktemp("dev") / "out",
        tiny_beir,
        negatives_from="bm25",
        negatives_depth=1,
        dev_queries=3,
    )
    data = prepare_data(config)
    return config, data.dev, build_from_config(config, data.corpus)


def test_corpus_mode_ranks_every_corpus_document(dev_and_student):
    from training.dev_eval import dev_run

    config, dev, student = dev_and_student
    assert dev.corpus_ids == [d for d, _, _ in CORPUS]  # the whole corpus, test docs too
    assert not set(dev.queries) & {q for q, _, _ in TEST}  # dev queries come from train
    student.train()
    run = dev_run(student, dev, config.student.query_max_length, config.student.doc_max_length)
    assert student.training  # put back as it was
    # Brute force: every corpus document, encoded one at a time, dense dot products.
    with torch.no_grad():
        student.eval()
        docs = torch.cat(  # learnt part + lexical part, as indexed
            [
                student.document_vectors(
                    student.encode_documents([t], config.student.doc_max_length), [t]
                )
                for t in dev.corpus_texts
            ]
        )
        qids = sorted(dev.queries)
        queries = student.encode_queries(
            [dev.queries[q] for q in qids], config.student.query_max_length
        )
        student.train()
    scores = (queries @ docs.T).numpy()
    assert sorted(run) == qids
    outside_pools = 0
    for i, qid in enumerate(qids):
        expected = {dev.corpus_ids[j]: s for j, s in enumerate(scores[i]) if s > 0}
        assert run[qid].keys() == expected.keys()  # < 100 matching docs: all of them
        for doc, score in run[qid].items():
            assert score == pytest.approx(expected[doc], rel=1e-5)
        outside_pools += len(set(run[qid]) - set(dev.pools[qid]))
    assert outside_pools > 0
    assert student.lexical.enabled  # the default inference-free student has the lexical term


def test_pool_mode_scores_only_the_pools(dev_and_student):
    from training.dev_eval import dev_run, evaluate_dev

    config, dev, student = dev_and_student
    run = dev_run(
        student, dev, config.student.query_max_length, config.student.doc_max_length, "pool"
    )
    assert {q: sorted(docs) for q, docs in run.items()} == {
        q: sorted(pool) for q, pool in dev.pools.items()
    }
    metrics = evaluate_dev(
        student, dev, config.student.query_max_length, config.student.doc_max_length, "pool"
    )
    assert set(metrics) == {"nDCG@10", "RR@10"}


def test_top_k_is_exact_with_ties_to_the_lower_row():
    import scipy.sparse as sp

    from training.dev_eval import top_k_run

    docs = sp.csr_matrix(np.array([[1, 0], [2, 0], [0, 3], [2, 0], [0, 0]], dtype=np.float32))
    queries = sp.csr_matrix(np.array([[1, 0], [0, 0]], dtype=np.float32))
    run = top_k_run(queries, docs, ["q", "empty"], ["a", "b", "c", "d", "e"], k=2)
    assert list(run["q"].items()) == [("b", 2.0), ("d", 2.0)]
    assert run["empty"] == {}


def test_step_zero_evaluation_is_logged(tiny_beir, tmp_path, monkeypatch):
    from training import train, trainer

    lengths = []

    def spy(student, dev, query_max_length, doc_max_length, mode):
        lengths.append(doc_max_length)
        return trainer_evaluate(student, dev, query_max_length, doc_max_length, mode)

    trainer_evaluate = trainer.evaluate_dev
    monkeypatch.setattr(trainer, "evaluate_dev", spy)
    config = quick_config(
        tmp_path / "out",
        tiny_beir,
        negatives_from="bm25",
        steps=1,
        dev_queries=2,
        dev_doc_max_length=32,
    )
    result = train(config)
    assert [d["step"] for d in result.dev] == [0, 1]
    assert set(result.dev[0]) == {"step", "nDCG@10", "RR@10", "R@100"}
    assert lengths == [32, 32] and 0 < result.dev_seconds <= result.seconds
    log = [json.loads(line) for line in (result.output / "log.jsonl").read_text().splitlines()]
    dev = [e["dev"] for e in log if "dev" in e]
    assert [(d["step"], d["mode"]) for d in dev] == [(0, "corpus"), (1, "corpus")]
    assert "dev" in log[0] and log[0]["dev"]["step"] == 0  # before any training step


def test_dev_seed_fixes_the_held_out_queries_across_seeds(tiny_beir, tmp_path):
    from training.prepare import prepare_data

    def dev_queries(**changes) -> set[str]:
        config = quick_config(tmp_path / "out", tiny_beir, negatives_from="bm25", **changes)
        return set(prepare_data(config).dev.queries)

    by_seed = [dev_queries(dev_queries=3, seed=s) for s in range(6)]
    assert len({frozenset(d) for d in by_seed}) > 1  # the seed alone moves the dev set
    fixed = [dev_queries(dev_queries=3, seed=s, dev_seed=4) for s in range(6)]
    assert all(d == by_seed[4] for d in fixed)  # dev_seed 4 holds out what seed 4 did
