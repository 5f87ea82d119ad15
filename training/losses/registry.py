"""The loss registry: every loss a training step can sum is a small callable of one
`Batch`, registered under a name with its citation.

The trainer never names a loss: it asks `configured` for the terms a config turns on
(a name, the registered loss, and its weight at each step) and sums them. Adding a loss
is one module in this package (found at import, see __init__.py) plus its test; the
recipe is in docs/architecture.md ("How to add a loss").

Three kinds of loss, each with its own weight in the config:
- "ranking": scores of queries against documents; weight `losses.weights[name]`;
- "document": a sparsity penalty on document vectors, `losses.doc_regularizer`,
  weighted by the quadratic warm-up of `flops_d_lambda`;
- "query": a sparsity penalty on query vectors, weighted by `flops_q_lambda`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import Tensor

from ..schedules import LambdaSchedule

if TYPE_CHECKING:
    from ..config_sections import LossesConfig

KINDS = ("ranking", "document", "query")
STUDENT_KINDS = ("inference-free", "siamese")


@dataclass
class Batch:
    """One training batch as the losses see it.

    Documents are laid out query by query: query i owns columns [i*G, (i+1)*G) of
    `scores`, its positive first, then its hard negatives.
    """

    queries: Tensor  # (n, vocab) query vectors
    docs: Tensor  # (n * G, vocab) the learnt document vectors (what sparsity acts on)
    scores: Tensor  # (n, n * G): every query against every document of the batch
    own: Tensor  # (n, G): each query against its own group, positive first
    targets: Tensor | None  # (n, G) the teachers' ensemble scores, when there are teachers
    idf: Tensor | None  # (vocab,) an inference-free student's IDF
    student: str  # "inference-free" or "siamese"
    settings: LossesConfig
    # (n, n * G) bool: the candidates a query may rank against, in-batch negatives
    # included (all but the query's own other positives); computed on demand.
    in_batch_allowed: Callable[[], Tensor]


@dataclass(frozen=True)
class Loss:
    name: str
    compute: Callable[[Batch], Tensor]
    citation: str
    kind: str = "ranking"
    needs_teachers: bool = False  # reads Batch.targets
    students: tuple[str, ...] = STUDENT_KINDS


LOSSES: dict[str, Loss] = {}


def register(
    name: str,
    citation: str,
    kind: str = "ranking",
    needs_teachers: bool = False,
    students: tuple[str, ...] = STUDENT_KINDS,
) -> Callable[[Callable[[Batch], Tensor]], Callable[[Batch], Tensor]]:
    """Decorator: register `compute(batch) -> scalar tensor` as loss `name`."""
    if not name or "." in name:
        raise ValueError(f"loss name {name!r}: non-empty, without '.' (config keys use it)")
    if kind not in KINDS:
        raise ValueError(f"loss {name!r}: kind must be one of {', '.join(KINDS)}, not {kind!r}")

    def add(compute: Callable[[Batch], Tensor]) -> Callable[[Batch], Tensor]:
        if name in LOSSES:
            raise ValueError(f"loss {name!r} is registered twice")
        LOSSES[name] = Loss(name, compute, citation, kind, needs_teachers, tuple(students))
        return compute

    return add


@dataclass(frozen=True)
class Term:
    """One configured part of the loss: logged under `name`, turned on by `setting`."""

    name: str
    loss: Loss
    weight: Callable[[int], float]  # of the 1-based step
    setting: str


def document_weight(settings: LossesConfig) -> LambdaSchedule:
    """The document penalty's weight by step (logged as lambda_d even when it is off)."""
    return LambdaSchedule(settings.flops_d_lambda, settings.flops_d_warmup, settings.flops_start)


def configured(settings: LossesConfig) -> list[Term]:
    """The terms `settings` turns on, in the order a step computes them: ranking losses
    in registration order, then the document penalty, then the query penalty."""
    terms = [
        Term(name, loss, _Constant(settings.weights[name]), f"losses.weights.{name}")
        for name, loss in LOSSES.items()
        if loss.kind == "ranking" and settings.weights.get(name, 0) > 0
    ]
    if settings.doc_regularizer != "none":
        loss = LOSSES[settings.doc_regularizer]
        terms.append(Term("flops_d", loss, document_weight(settings), "losses.doc_regularizer"))
    if settings.flops_q_lambda > 0:
        schedule = LambdaSchedule(
            settings.flops_q_lambda, settings.flops_q_warmup, settings.flops_start
        )
        terms.append(Term("flops_q", LOSSES["query-flops"], schedule, "losses.flops_q_lambda"))
    return terms


@dataclass(frozen=True)
class _Constant:
    value: float

    def __call__(self, step: int) -> float:
        return self.value
