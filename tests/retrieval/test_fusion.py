"""fuse(): RRF, min-max and z-score against answers computed by hand, and every refusal."""

from __future__ import annotations

import math

import pytest

from eval.data.run import Run
from retrieval.fusion import fuse
from spire.core.errors import SpireError

# Two runs of the same queries. Run A ranks q1: a, b, c; run B ranks q1: b, d, a.
# c is missing from B and d from A. q2 is in both; q3 only in B.
A = {"q1": {"a": 3.0, "b": 2.0, "c": 1.0}, "q2": {"x": 1.0, "y": 0.5}}
B = {"q1": {"b": 5.0, "d": 4.0, "a": 1.0}, "q2": {"y": 2.0, "z": 1.0}, "q3": {"u": 1.0}}


def approx(expected: dict[str, float]) -> dict:
    return pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------- rrf


def test_rrf_by_hand():
    fused = fuse([A, B])  # rrf, k = 60, weights 1, 1
    # q1: a = 1/(60+1) [A rank 1] + 1/(60+3) [B rank 3] = 0.0163934 + 0.0158730 = 0.0322664
    #     b = 1/(60+2) [A rank 2] + 1/(60+1) [B rank 1] = 0.0161290 + 0.0163934 = 0.0325224
    #     c = 1/(60+3) [A rank 3, missing from B: adds nothing]   = 0.0158730
    #     d = 1/(60+2) [B rank 2, missing from A: adds nothing]   = 0.0161290
    assert fused["q1"] == approx(
        {"b": 1 / 62 + 1 / 61, "a": 1 / 61 + 1 / 63, "d": 1 / 62, "c": 1 / 63}
    )
    assert list(fused["q1"]) == ["b", "a", "d", "c"]  # best first
    # q2: A ranks x, y; B ranks y, z.  y = 1/62 + 1/61 > x = 1/61 > z = 1/62.
    assert list(fused["q2"]) == ["y", "x", "z"]
    assert fused["q2"]["y"] == pytest.approx(1 / 62 + 1 / 61, abs=1e-12)
    # q3 is only in B: its one document at rank 1 scores 1/61.
    assert fused["q3"] == approx({"u": 1 / 61})


def test_rrf_weights_and_k():
    fused = fuse([A, B], "rrf", weights=[2, 1])
    # q2: x = 2/61 = 0.0327869; y = 2/62 + 1/61 = 0.0486513; z = 1/62 = 0.0161290.
    assert fused["q2"] == approx({"y": 2 / 62 + 1 / 61, "x": 2 / 61, "z": 1 / 62})
    # k = 0 makes the shares 1/rank: a = 1/1, b = 1/2, c = 1/3.
    assert fuse([A], "rrf", k=0)["q1"] == approx({"a": 1.0, "b": 0.5, "c": 1 / 3})


def test_rrf_ties():
    # Within a run, equal scores are ranked by doc id (the order save_trec writes):
    # a gets rank 1 (1/61), b rank 2 (1/62).
    assert fuse([{"q": {"b": 1.0, "a": 1.0}}])["q"] == approx({"a": 1 / 61, "b": 1 / 62})
    # Across runs: a = 1/61 + 1/62 and b = 1/62 + 1/61 tie exactly (fsum), whatever the run
    # order, and the smaller id comes first.
    c, d = {"q": {"a": 2.0, "b": 1.0}}, {"q": {"b": 2.0, "a": 1.0}}
    for runs in ([c, d], [d, c]):
        fused = fuse(runs)["q"]
        assert fused["a"] == fused["b"]
        assert list(fused) == ["a", "b"]


# --------------------------------------------------------------------------- min-max


def test_minmax_by_hand():
    fused = fuse([A, B], "minmax")
    # A q1: min 1, max 3 -> a = (3-1)/2 = 1, b = (2-1)/2 = 0.5, c = 0.
    # B q1: min 1, max 5 -> b = (5-1)/4 = 1, d = (4-1)/4 = 0.75, a = 0.
    # Sum: a = 1 + 0 = 1, b = 0.5 + 1 = 1.5, c = 0 (missing from B), d = 0.75 (missing from A).
    assert fused["q1"] == approx({"b": 1.5, "a": 1.0, "d": 0.75, "c": 0.0})
    assert list(fused["q1"]) == ["b", "a", "d", "c"]
    # q3: B's only document: all scores tie -> 1.0 (the run's best), not 0/0.
    assert fused["q3"] == {"u": 1.0}


def test_minmax_weights_make_a_tie():
    # Weights 2, 1: a = 2*1 + 1*0 = 2, b = 2*0.5 + 1*1 = 2 (a tie), d = 1*0.75, c = 2*0.
    fused = fuse([A, B], "minmax", weights=[2.0, 1.0])
    assert fused["q1"] == approx({"a": 2.0, "b": 2.0, "d": 0.75, "c": 0.0})
    assert list(fused["q1"]) == ["a", "b", "d", "c"]  # the tie goes to the smaller id


# --------------------------------------------------------------------------- z-score


def test_zscore_by_hand():
    fused = fuse([A, B], "zscore")
    # A q1: scores 3, 2, 1: mean 2, population std sqrt((1 + 0 + 1) / 3) = sqrt(2/3).
    #   a = 1/sqrt(2/3) = 1.2247, b = 0, c = -1.2247.
    sa = math.sqrt(2 / 3)
    # B q1: scores 5, 4, 1: mean 10/3, deviations 5/3, 2/3, -7/3,
    #   std = sqrt((25 + 4 + 49) / 9 / 3) = sqrt(78/27) = 1.6997.
    #   b = (5/3)/1.6997 = 0.9806, d = (2/3)/1.6997 = 0.3922, a = (-7/3)/1.6997 = -1.3728.
    sb = math.sqrt(78 / 27)
    expected = {
        "b": 0 / sa + (5 / 3) / sb,  # 0.9806
        "d": (2 / 3) / sb,  # 0.3922 (missing from A)
        "a": 1 / sa + (-7 / 3) / sb,  # 1.2247 - 1.3728 = -0.1481
        "c": -1 / sa,  # -1.2247 (missing from B)
    }
    assert fused["q1"] == approx(expected)
    assert list(fused["q1"]) == ["b", "d", "a", "c"]


def test_zscore_ties_give_zeros_not_nan():
    # 0.1 three times: a computed std would be a rounding error above 0, not 0.
    tied = {"q": {"a": 0.1, "b": 0.1, "c": 0.1}}
    assert fuse([tied], "zscore")["q"] == {"a": 0.0, "b": 0.0, "c": 0.0}
    # With another run, the tied run adds nothing: only the second run's z-scores count.
    # Second run: scores 2, 0: mean 1, std 1 -> a = +1, d = -1.
    fused = fuse([tied, {"q": {"a": 2.0, "d": 0.0}}], "zscore")["q"]
    assert fused == approx({"a": 1.0, "b": 0.0, "c": 0.0, "d": -1.0})
    assert not any(math.isnan(v) for v in fused.values())


# --------------------------------------------------------------------------- depth


@pytest.mark.parametrize("method", ["rrf", "minmax", "zscore"])
def test_depth_keeps_the_best(method):
    full = fuse([A, B], method)
    cut = fuse([A, B], method, depth=2)
    for qid, docs in full.items():
        assert list(cut[qid]) == list(docs)[:2]
    expected = {"rrf": ["b", "a"], "minmax": ["b", "a"], "zscore": ["b", "d"]}[method]
    assert list(cut["q1"]) == expected
    assert fuse([A, B], method, depth=None) == full


def test_run_objects_fuse_and_keep_plain_dicts_out():
    a, b = Run(A, dataset="toy"), Run(B, dataset="toy")
    assert fuse([a, b]) == fuse([A, B])
    # A run without a dataset fuses with one that has it.
    assert fuse([a, B]) == fuse([A, B])


def test_the_fused_run_is_a_run_of_the_inputs_dataset():
    fused = fuse([Run(A, dataset="toy"), B], "minmax")
    assert isinstance(fused, Run) and fused.dataset == "toy"
    assert fuse([A, B]).dataset is None  # plain mappings name no dataset


# --------------------------------------------------------------------------- refusals


def test_refuses_unknown_method():
    with pytest.raises(SpireError, match="unknown fusion method 'borda'.*rrf"):
        fuse([A, B], "borda")


def test_refuses_unknown_option():
    with pytest.raises(SpireError, match="'minmax' has no option 'k'"):
        fuse([A, B], "minmax", k=60)
    with pytest.raises(SpireError, match="k must be a number >= 0"):
        fuse([A, B], "rrf", k=-1)


def test_refuses_weights_of_the_wrong_length():
    with pytest.raises(SpireError, match="3 fusion weights for 2 runs"):
        fuse([A, B], weights=[1, 1, 1])
    with pytest.raises(SpireError, match="finite"):
        fuse([A, B], weights=[1, float("nan")])


def test_refuses_runs_of_different_datasets():
    with pytest.raises(SpireError, match="different datasets: run 0 is 'scifact', run 1 is 'nfc"):
        fuse([Run(A, dataset="scifact"), Run(B, dataset="nfcorpus")])


def test_refuses_runs_without_a_shared_query():
    with pytest.raises(SpireError, match="runs 0 and 1 share no query id"):
        fuse([{"1": {"d": 1.0}}, {"2": {"d": 1.0}}])
    with pytest.raises(SpireError, match="runs 0 and 2 share no query id"):
        fuse([A, B, {"q9": {"d": 1.0}}])
    with pytest.raises(SpireError, match="no queries"):
        fuse([A, {}])


def test_refuses_no_runs_bad_depth_and_non_runs():
    with pytest.raises(SpireError, match="at least one run"):
        fuse([])
    with pytest.raises(SpireError, match="depth must be a positive integer"):
        fuse([A, B], depth=0)
    with pytest.raises(SpireError, match="run 1 is a list"):
        fuse([A, [("q1", "a", 1.0)]])
