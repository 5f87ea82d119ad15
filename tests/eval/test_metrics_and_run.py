"""compute_metrics against hand-computed values, and the Run type with its TREC files."""

from __future__ import annotations

import math
import re

import pytest

from eval.data.run import Run
from eval.metrics import compute_metrics
from retrieval import Hit
from spire.core.errors import SpireError

QRELS = {
    "q1": {"d1": 1, "d3": 2, "d5": 0},
    "q2": {"d2": 1},
}
RUN = {
    # q1 ranks: d2 (unjudged), d1 (rel 1), d3 (rel 2), d4 (unjudged); no score ties.
    "q1": {"d2": 3.0, "d1": 2.5, "d3": 2.0, "d4": 1.0},
    # q2 ranks: d7, d8, d2 (rel 1).
    "q2": {"d7": 5.0, "d8": 4.0, "d2": 3.0},
    # Not judged: must not change any mean.
    "q-unjudged": {"d1": 9.0},
}

# nDCG@10 (trec_eval, linear gain): DCG = sum_i rel_i / log2(i + 1) over ranks i = 1..10,
# divided by the DCG of the ideal ordering of the judged relevance values.
NDCG_Q1 = (0 / math.log2(2) + 1 / math.log2(3) + 2 / math.log2(4)) / (
    2 / math.log2(2) + 1 / math.log2(3)
)
NDCG_Q2 = (1 / math.log2(4)) / (1 / math.log2(2))
# RR@10: 1 / rank of the first relevant (rel >= 1) document within the top 10, else 0.
RR_Q1, RR_Q2 = 1 / 2, 1 / 3
# R@100: relevant documents retrieved in the top 100 / all relevant documents.
RECALL_Q1, RECALL_Q2 = 2 / 2, 1 / 1


def test_hand_computed_values():
    metrics = compute_metrics(QRELS, RUN)
    assert list(metrics) == ["nDCG@10", "R@100", "RR@10"]
    assert NDCG_Q1 == pytest.approx(0.6199062, abs=1e-6)
    assert metrics["nDCG@10"] == pytest.approx((NDCG_Q1 + NDCG_Q2) / 2, abs=1e-9)
    assert metrics["RR@10"] == pytest.approx((RR_Q1 + RR_Q2) / 2, abs=1e-9)
    assert metrics["R@100"] == pytest.approx((RECALL_Q1 + RECALL_Q2) / 2, abs=1e-9)


def test_other_measures():
    # P@1: neither query has a relevant document at rank 1.
    # AP q1: relevant at ranks 2 and 3 -> (1/2 + 2/3) / 2; q2: rank 3 -> (1/3) / 1.
    metrics = compute_metrics(QRELS, RUN, ["P@1", "AP"])
    assert metrics["P@1"] == 0.0
    assert metrics["AP"] == pytest.approx(((1 / 2 + 2 / 3) / 2 + 1 / 3) / 2, abs=1e-9)


def test_cut_off_depth_matters():
    # The relevant document at rank 11 counts for R@100 but not for RR@10 or nDCG@10.
    qrels = {"q": {"rel": 1}}
    run = {"q": {**{f"n{i}": 100.0 - i for i in range(10)}, "rel": 1.0}}
    metrics = compute_metrics(qrels, run)
    assert metrics == {"nDCG@10": 0.0, "R@100": 1.0, "RR@10": 0.0}


def test_perfect_run():
    run = {"q1": {"d3": 2.0, "d1": 1.0}, "q2": {"d2": 1.0}}
    assert compute_metrics(QRELS, run) == pytest.approx({"nDCG@10": 1, "R@100": 1, "RR@10": 1})


def test_no_run_at_all_scores_zero():
    assert compute_metrics(QRELS, {}) == {"nDCG@10": 0.0, "R@100": 0.0, "RR@10": 0.0}


@pytest.mark.parametrize("q3_run", [None, {}], ids=["absent", "empty"])
def test_judged_query_without_hits_counts_as_zero(q3_run):
    qrels = {**QRELS, "q3": {"d9": 1}}
    run = dict(RUN)
    if q3_run is not None:
        run["q3"] = q3_run
    metrics = compute_metrics(qrels, run)
    # The mean is over all three judged queries, q3 contributing 0.
    assert metrics["nDCG@10"] == pytest.approx((NDCG_Q1 + NDCG_Q2 + 0) / 3, abs=1e-9)
    assert metrics["RR@10"] == pytest.approx((RR_Q1 + RR_Q2 + 0) / 3, abs=1e-9)
    assert metrics["R@100"] == pytest.approx((RECALL_Q1 + RECALL_Q2 + 0) / 3, abs=1e-9)


def test_judged_query_without_hits_lowers_the_mean():
    # Holds with or without the double-counting bug above.
    with_q3 = compute_metrics({**QRELS, "q3": {"d9": 1}}, RUN)
    without = compute_metrics(QRELS, RUN)
    for name in without:
        assert with_q3[name] < without[name]


# --------------------------------------------------------------------------- Run


def test_from_hits():
    run = Run.from_hits({"q1": [Hit("a", 2.0), Hit("b", 1.5)], "q2": []})
    assert isinstance(run, Run)
    assert run == {"q1": {"a": 2.0, "b": 1.5}, "q2": {}}


def test_without_identical_ids():
    run = Run({"1": {"1": 3.0, "2": 2.0}, "2": {"1": 1.0, "3": 0.5}, "x": {"x": 1.0}})
    dropped = run.without_identical_ids()
    assert isinstance(dropped, Run)
    assert dropped == {"1": {"2": 2.0}, "2": {"1": 1.0, "3": 0.5}, "x": {}}
    assert run["1"] == {"1": 3.0, "2": 2.0}  # the original is left alone


def test_save_trec_line_format(tmp_path):
    run = Run({"q1": {"b": 1.5, "a": 2.25, "c": 1.5}, "q2": {"z": -0.125}})
    path = run.save_trec(tmp_path / "run.trec", tag="mytag")
    assert path == tmp_path / "run.trec"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines == [
        "q1 Q0 a 1 2.250000 mytag",
        "q1 Q0 c 2 1.500000 mytag",  # a tie goes to the higher doc id, as in trec_eval
        "q1 Q0 b 3 1.500000 mytag",
        "q2 Q0 z 1 -0.125000 mytag",
    ]
    for line in lines:
        assert re.fullmatch(r"\S+ Q0 \S+ [1-9]\d* -?\d+\.\d{6} \S+", line)


def test_save_trec_default_tag_creates_folders_and_leaves_no_temp_file(tmp_path):
    path = Run({"q": {"d": 1.0}}).save_trec(tmp_path / "a" / "b" / "run.txt")
    assert path.read_text() == "q Q0 d 1 1.000000 spire\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.txt"]


def test_save_trec_replaces_an_existing_file(tmp_path):
    path = tmp_path / "run.trec"
    path.write_text("old contents\n")
    Run({"q": {"d": 1.0}}).save_trec(path)
    assert path.read_text() == "q Q0 d 1 1.000000 spire\n"


def test_trec_round_trip(tmp_path):
    run = Run(
        {
            "1": {"d10": 12.5, "d2": 3.25, "d3": 0.0},
            "q-2": {"PMID:9": 0.123456},
            "3": {},  # a query with no hits has no lines, so it does not come back
        }
    )
    path = run.save_trec(tmp_path / "run.trec")
    loaded = Run.load_trec(path)
    assert isinstance(loaded, Run)
    assert loaded == {k: v for k, v in run.items() if v}
    assert compute_metrics({"1": {"d2": 1}}, loaded) == compute_metrics({"1": {"d2": 1}}, run)


def test_load_trec_skips_blank_lines(tmp_path):
    path = tmp_path / "run.trec"
    path.write_text("\nq Q0 d 1 1.5 t\n   \nq Q0 e 2 0.5 t\n")
    assert Run.load_trec(path) == {"q": {"d": 1.5, "e": 0.5}}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("q1 Q0 d2 2 1.0", "expected"),
        ("q1 Q0 d2 2 1.0 tag extra", "expected"),
        ("q1 Q0 d2 2 high tag", "not a number"),
    ],
)
def test_load_trec_malformed_line_names_its_line(tmp_path, bad, reason):
    path = tmp_path / "run.trec"
    path.write_text(f"q1 Q0 d1 1 2.0 tag\n\n{bad}\nq1 Q0 d3 3 0.5 tag\n")
    with pytest.raises(SpireError) as info:
        Run.load_trec(path)
    message = str(info.value)
    assert f"{path}:3:" in message
    assert reason in message


def test_load_trec_missing_file(tmp_path):
    with pytest.raises(SpireError, match="no such file"):
        Run.load_trec(tmp_path / "absent.trec")


def test_load_trec_invalid_utf8(tmp_path):
    path = tmp_path / "run.trec"
    path.write_bytes(b"q1 Q0 d1 1 2.0 tag\nq1 Q0 d\xe9 2 1.0 tag\n")
    with pytest.raises(SpireError, match=r"run\.trec:2"):
        Run.load_trec(path)


# Ties: one rule (trec_eval's: score descending, then doc id descending) for every metric.
TIED = {"q1": {"a": 1.0, "b": 1.0, "c": 0.5}}  # ranked b, a, c


@pytest.mark.parametrize("run", [TIED, {"q1": {"c": 0.5, "b": 1.0, "a": 1.0}}])
def test_every_metric_ranks_ties_by_doc_id_descending(run):
    # "a" (relevant) ties with "b" and comes second, whatever the insertion order.
    metrics = compute_metrics({"q1": {"a": 1}}, run, ("nDCG@10", "RR@10", "R@1", "P@1"))
    assert metrics == pytest.approx(
        {"nDCG@10": 1 / math.log2(3), "RR@10": 0.5, "R@1": 0.0, "P@1": 0.0}
    )
    assert compute_metrics({"q1": {"b": 1}}, run, ("RR@10", "R@1")) == {"RR@10": 1.0, "R@1": 1.0}


def test_run_file_carries_the_metrics_tie_order(tmp_path):
    path = Run(TIED).save_trec(tmp_path / "tied.trec")
    assert [line.split()[2:4] for line in path.read_text().splitlines()] == [
        ["b", "1"],
        ["a", "2"],
        ["c", "3"],
    ]
    qrels = {"q1": {"a": 1}}
    assert compute_metrics(qrels, Run.load_trec(path)) == compute_metrics(qrels, TIED)
