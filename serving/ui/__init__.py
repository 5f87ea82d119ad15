"""The search, compare and evaluation page at /ui (docs/ui.md).

`UiOptions` is what `spire serve` passes (`--qrels`, `--split`, `--judgments`,
`--compare`, `--runs`); `add_ui(app, state, options, ...)` opens the dataset and the second system
(a bad path fails here, before the port is bound) and mounts the routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from spire.core.errors import SpireError

from .data import Collection
from .evaluation import Evaluation
from .routes import OPEN_PATHS, add_routes
from .systems import System, load_runs, parse_compare
from .views import Ui

__all__ = ["OPEN_PATHS", "UiOptions", "add_ui", "check_options"]


@dataclass(frozen=True)
class UiOptions:
    qrels: Path | None = None  # a BEIR folder: texts, queries and qrels
    split: str = "test"
    judgments: Path | None = None  # the TREC qrels file grades are appended to
    compare: str | None = None  # an index folder, fusion[=METHOD] or query-terms=N
    runs: tuple[Path, ...] = ()  # TREC run files compared instead of live systems


def add_ui(app: FastAPI, state, options: UiOptions, folder: Path, *, needs_key: bool,
           api_error) -> Ui:  # fmt: skip
    """Mount the page for the server `state` (serving.server.ServerState) of `folder`."""
    collection = Collection(options.qrels, options.split, options.judgments)
    # Its own latency record: the page's searches (1000 deep for the evaluation) stay out
    # of GET /stats' search_compute.
    served = System(Path(folder).name, state.backend, dense=state.dense)
    systems = [served, *_others(options, Path(folder), state.dense)]
    if options.runs:
        systems = systems[1:]
    evaluation = Evaluation(collection, systems)
    ui = Ui(served, systems, collection, evaluation, dense=state.dense is not None)
    add_routes(app, ui, needs_key=needs_key, api_error=api_error)
    return ui


def check_options(options: UiOptions, folder: Path, has_dense: bool) -> None:
    """Raise what add_ui would raise for these options (one line), without a server: what
    `spire serve --workers N` checks once before starting its workers."""
    Collection(options.qrels, options.split, options.judgments)
    _others(options, Path(folder), object() if has_dense else None)


def _others(options: UiOptions, folder: Path, dense) -> list:
    """The systems besides the served index: --compare's, or --runs' files."""
    if options.compare and options.runs:
        raise SpireError("give --compare or --runs, not both")
    if options.compare:
        return [parse_compare(options.compare, folder, dense)]
    return load_runs(list(options.runs)) if options.runs else []
