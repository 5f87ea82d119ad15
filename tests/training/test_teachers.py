"""Teachers: BM25 by hand, normalisation and ensembles by hand, the disk cache, and the real
dense and SPLADE teachers ranking an obvious positive first."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spire.core.errors import SpireError
from training.bm25 import BM25
from training.teachers import cached_scores, check_teacher, ensemble_scores, normalise, parse_spec


def test_bm25_by_hand():
    # Stopwords "a" and "the" go: doc0 = [cat, sat], doc1 = [cat, cat], doc2 = [dog];
    # lengths 2, 2, 1, average 5/3. df(cat) = 2 of N = 3:
    #   idf = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln(1.6) = 0.470004
    # Length norm for a 2-term doc: k1 (1 - b + b * 2 / (5/3)) = 0.9 * 1.08 = 0.972
    #   doc1 (tf 2): 0.470004 * 2 / (2 + 0.972) = 0.316288
    #   doc0 (tf 1): 0.470004 * 1 / (1 + 0.972) = 0.238339
    bm25 = BM25(["a cat sat", "the cat cat", "dog"])
    pairs = np.array([[0, 0], [0, 1], [0, 2]])
    assert bm25.score_pairs(["cat"], pairs) == pytest.approx([0.238339, 0.316288, 0.0], abs=1e-6)
    assert bm25.top_k(["cat"], 2).tolist() == [[1, 0]]


def test_normalise_by_hand():
    scores = np.array([[1.0, 3.0, 5.0]])
    # min-max: (s - 1) / (5 - 1) -> 0, 0.5, 1 (eps 1e-6 in the denominator)
    assert normalise(scores, "minmax")[0] == pytest.approx([0.0, 0.5, 1.0], abs=1e-6)
    # z-score: mean 3, population std sqrt(8/3) = 1.632993 -> -1.224745, 0, 1.224745
    assert normalise(scores, "zscore")[0] == pytest.approx([-1.224745, 0.0, 1.224745], abs=1e-6)
    with pytest.raises(ValueError):
        normalise(scores, "rank")


def test_ensemble_by_hand():
    # Teacher A (0, 10) -> min-max (0, 1); teacher B (2, 1) -> (1, 0). Weights 3 and 1,
    # scale 30: 30 * (3 * (0, 1) + 1 * (1, 0)) / 4 = (7.5, 22.5).
    mixed = ensemble_scores([np.array([[0.0, 10.0]]), np.array([[2.0, 1.0]])], [3, 1])
    assert mixed[0] == pytest.approx([7.5, 22.5], abs=1e-4)
    # Scale-free: teacher A times 1000 gives the same mix.
    again = ensemble_scores([np.array([[0.0, 1e4]]), np.array([[2.0, 1.0]])], [3, 1])
    assert again == pytest.approx(mixed, abs=1e-4)


class LengthTeacher:
    """A real, deterministic teacher: longer documents score higher. It counts its calls,
    which shows whether scores came from the cache."""

    spec = "length"

    def __init__(self) -> None:
        self.calls = 0

    def cache_key(self) -> str:
        return "length|v1"

    def score(self, queries, docs, pairs):
        self.calls += 1
        return np.array([len(docs[d]) for _, d in pairs], dtype=np.float32)


def test_scores_are_cached_on_disk(tmp_path):
    teacher = LengthTeacher()
    queries, docs = ["q"], ["a", "bbb", "cc"]
    pairs = np.array([[0, 0], [0, 1], [0, 2]])
    first = cached_scores(teacher, queries, docs, pairs, tmp_path)
    again = cached_scores(teacher, queries, docs, pairs, tmp_path)
    assert first.tolist() == again.tolist() == [1.0, 3.0, 2.0]
    assert teacher.calls == 1
    (meta_file,) = tmp_path.glob("length-*.json")
    assert json.loads(meta_file.read_text())["pairs"] == 3
    assert np.load(meta_file.with_suffix(".npy"), allow_pickle=False).tolist() == first.tolist()
    cached_scores(teacher, queries, ["a", "bbb", "changed"], pairs, tmp_path)  # new texts
    assert teacher.calls == 2 and len(list(tmp_path.glob("length-*.npy"))) == 2


def test_dense_and_splade_teachers_prefer_the_relevant_document(
    minilm_path, splade_tiny_path, capsys
):
    from training.teachers import load_teacher

    queries = ["what is the capital of france"]
    docs = ["Paris is the capital and largest city of France.", "Mitochondria make ATP."]
    pairs = np.array([[0, 0], [0, 1]])
    teachers = {
        spec: load_teacher(spec) for spec in ("dense:all-MiniLM-L6-v2", "splade:splade-tiny")
    }
    for teacher in teachers.values():
        teacher.show_progress = True
    dense = teachers["dense:all-MiniLM-L6-v2"].score(queries, docs, pairs)
    assert dense[0] > 0.5 > dense[1] and -1 <= dense.min() <= dense.max() <= 1.0001
    sparse = teachers["splade:splade-tiny"].score(queries, docs, pairs)
    assert sparse[0] > sparse[1] >= 0
    bars = capsys.readouterr().err  # each progress bar names its teacher
    for spec in teachers:
        assert f"teacher {spec}: queries" in bars and f"teacher {spec}: documents" in bars
    bm25 = load_teacher("bm25", docs).score(queries, docs, pairs)
    assert bm25[0] > bm25[1] == 0


def test_the_student_teacher_scores_as_the_untrained_student(tmp_path, splade_tiny_path):
    """The "student" teacher is the student before its first step: its scores are the
    ones the ranking losses compute at step 0 (learnt + lexical, IDF-weighted bags)."""
    import torch

    from training import TrainConfig
    from training.models import build_from_config
    from training.teachers import load_teacher

    corpus = [
        "Paris is the capital and largest city of France.",
        "Mitochondria make ATP in the cells of animals and plants.",
        "The extended warranty covers extending repairs.",
    ]
    config = TrainConfig.from_dict(
        {
            "output": str(tmp_path / "m"),
            "train_data": "-",
            "doc_max_length": 32,
            "query_max_length": 16,
        }
    )
    queries = ["capital of france", "mitochondria atp", "extends"]
    pairs = np.array([[q, d] for q in range(3) for d in range(3)])
    scores = load_teacher("student", corpus, config).score(queries, corpus, pairs).reshape(3, 3)
    student = build_from_config(config, corpus).eval()
    with torch.no_grad():
        docs = student.document_vectors(student.encode_documents(corpus, 32), corpus)
        expected = (student.encode_queries(queries, 16) @ docs.T).numpy()
    assert scores == pytest.approx(expected, rel=1e-5, abs=1e-5)
    assert (scores.argmax(axis=1) == [0, 1, 2]).all()  # "extends" finds "extended" by stem
    with pytest.raises(ValueError, match="needs the training config"):
        load_teacher("student", corpus)


def test_teacher_specs_and_missing_models():
    assert parse_spec("dense:all-MiniLM-L6-v2") == ("dense", "all-MiniLM-L6-v2")
    assert parse_spec("bm25") == ("bm25", None)
    assert parse_spec("student") == ("student", None)
    for bad in ("cross:foo", "bm25:x", "student:x", "dense", "dense:"):
        with pytest.raises(SpireError, match="expected dense:MODEL"):
            parse_spec(bad)
    with pytest.raises(SpireError) as err:
        check_teacher("dense:/no/such/teacher-model")
    assert "teacher 'dense:/no/such/teacher-model'" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("damage", ["meta", "scores"])
def test_a_damaged_cache_entry_is_recomputed(tmp_path, damage):
    teacher = LengthTeacher()
    queries, docs = ["q"], ["a", "bbb"]
    pairs = np.array([[0, 0], [0, 1]])
    cached_scores(teacher, queries, docs, pairs, tmp_path)
    (meta_file,) = tmp_path.glob("length-*.json")
    broken = meta_file if damage == "meta" else meta_file.with_suffix(".npy")
    broken.write_bytes(b"\x00not what it should be")
    assert cached_scores(teacher, queries, docs, pairs, tmp_path).tolist() == [1.0, 3.0]
    assert teacher.calls == 2
    assert cached_scores(teacher, queries, docs, pairs, tmp_path).tolist() == [1.0, 3.0]
    assert teacher.calls == 2  # rewritten whole
