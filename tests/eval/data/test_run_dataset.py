"""Run's optional `dataset`: set by keyword, kept where the run stays on its dataset."""

from __future__ import annotations

from eval.data.run import Run
from retrieval import Hit


def test_dataset_is_optional_and_the_run_stays_a_dict():
    plain = Run({"q": {"d": 1.0}})
    assert plain.dataset is None and isinstance(plain, dict)
    named = Run({"q": {"d": 1.0}}, dataset="scifact")
    assert named.dataset == "scifact"
    assert named == plain == {"q": {"d": 1.0}}  # equality is the dict's
    assert Run(dataset="x") == {} and Run(dataset="x").dataset == "x"


def test_from_hits_and_without_identical_ids_keep_it():
    run = Run.from_hits({"1": [Hit("1", 2.0), Hit("7", 1.0)]}, dataset="scifact")
    assert run == {"1": {"1": 2.0, "7": 1.0}} and run.dataset == "scifact"
    dropped = run.without_identical_ids()
    assert dropped == {"1": {"7": 1.0}} and dropped.dataset == "scifact"
    assert Run.from_hits({"1": []}).dataset is None


def test_trec_round_trip_takes_the_dataset_again(tmp_path):
    path = Run({"q": {"a": 1.5, "b": 0.5}}, dataset="cranfield").save_trec(tmp_path / "r.trec")
    # TREC files have no place for it: it comes back only when named.
    assert Run.load_trec(path).dataset is None
    loaded = Run.load_trec(path, dataset="cranfield")
    assert loaded == {"q": {"a": 1.5, "b": 0.5}} and loaded.dataset == "cranfield"
