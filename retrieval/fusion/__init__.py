"""Fuse several runs (query id -> {doc id: score}) of one dataset into one.

Methods, one file each: `rrf` (reciprocal rank fusion), `minmax` and `zscore` (per-query
score normalisation, then a weighted sum). In all of them a document missing from a run
contributes nothing from that run, as in Pyserini and OpenSearch.

Runs are `eval.data.run.Run`s (the data layer, below retrieval); a plain mapping is taken
as a run without a dataset name. The fused run is a `Run` of the inputs' dataset.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from eval.data.run import Run
from spire.core.errors import SpireError

from .common import Fused, ranked
from .minmax import minmax
from .rrf import rrf
from .zscore import zscore

METHODS: dict[str, Callable[..., Fused]] = {"rrf": rrf, "minmax": minmax, "zscore": zscore}
OPTIONS: dict[str, tuple[str, ...]] = {"rrf": ("k",), "minmax": (), "zscore": ()}


def fuse(
    runs: Sequence[Run | Mapping[str, Mapping[str, float]]],
    method: str = "rrf",
    weights: Sequence[float] | None = None,
    depth: int | None = 1000,
    **kw,
) -> Run:
    """Fuse `runs` with `method`; each query keeps its `depth` best documents, best first
    (ties to the smaller doc id). `weights` (default: all 1) scale each run's share;
    `kw` are the method's options (rrf: `k`, default 60).

    Refuses an unknown method or option, weights that do not match the runs, runs whose
    `dataset` attributes differ, and runs that share no query id.
    """
    if method not in METHODS:
        raise SpireError(f"unknown fusion method {method!r}; choose one of {', '.join(METHODS)}")
    unknown = sorted(set(kw) - set(OPTIONS[method]))
    if unknown:
        allowed = ", ".join(OPTIONS[method]) or "none"
        raise SpireError(
            f"fusion method {method!r} has no option {unknown[0]!r} (it takes: {allowed})"
        )
    runs = _as_runs(runs)
    weights = _weights(runs, weights)
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise SpireError(f"fusion depth must be a positive integer, got {depth!r}")
    dataset = _common_dataset(runs)
    _check_shared_queries(runs)
    fused = METHODS[method](runs, weights, **kw)
    return Run({qid: _top(docs, depth) for qid, docs in fused.items()}, dataset=dataset)


def _as_runs(runs: Sequence) -> list[Run]:
    """Each input as a `Run`; a plain query id -> scores mapping is a run of no named
    dataset. Anything else is refused before it is read."""
    checked = []
    for i, run in enumerate(runs):
        if not isinstance(run, Mapping):
            raise SpireError(f"run {i} is a {type(run).__name__}, not a query id -> scores map")
        checked.append(run if isinstance(run, Run) else Run(run))
    return checked


def _weights(runs: list[Run], weights: Sequence[float] | None) -> list[float]:
    if not runs:
        raise SpireError("fusion needs at least one run")
    if weights is None:
        return [1.0] * len(runs)
    weights = list(weights)
    if len(weights) != len(runs):
        raise SpireError(f"{len(weights)} fusion weights for {len(runs)} runs; give one per run")
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w):
            raise SpireError(f"fusion weights must be finite numbers, got {w!r}")
    return [float(w) for w in weights]


def _common_dataset(runs: list[Run]) -> str | None:
    """The dataset the named runs share (None if none is named). Runs of different
    collections share query ids by accident ("1", "2", ...); fusing them would give
    plausible numbers that mean nothing."""
    named = [(i, run.dataset) for i, run in enumerate(runs) if run.dataset is not None]
    for i, dataset in named[1:]:
        if dataset != named[0][1]:
            raise SpireError(
                f"cannot fuse runs of different datasets: run {named[0][0]} is "
                f"{named[0][1]!r}, run {i} is {dataset!r}"
            )
    return named[0][1] if named else None


def _check_shared_queries(runs: list[Run]) -> None:
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            if not runs[i].keys() & runs[j].keys():
                raise SpireError(
                    f"runs {i} and {j} share no query id ({_sample(runs[i])} vs "
                    f"{_sample(runs[j])}); are they from the same dataset and split?"
                )


def _sample(run: Run) -> str:
    if not run:
        return "no queries"
    return f"{len(run)} {'query' if len(run) == 1 else 'queries'}, e.g. {next(iter(run))!r}"


def _top(docs: dict[str, float], depth: int | None) -> dict[str, float]:
    order = ranked(docs)
    return {d: docs[d] for d in (order if depth is None else order[:depth])}


__all__ = ["METHODS", "fuse", "minmax", "rrf", "zscore"]
