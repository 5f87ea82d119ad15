"""The systems the page shows and compares: the served index, and optionally a second one.

`--compare` names the second system: another index folder, or the same index with
another setting (`fusion` or `fusion=METHOD`: fused with the dense side, which needs
`--dense`; `query-terms=N`: approximate, each query's N heaviest terms). A System has
what `serving.answers.run_search` reads (`backend`, `dense`, `stats`), so each system's
hits, explanations and fusion details come from the code the JSON API answers with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.data.run import Run, ranked
from retrieval import open_index
from spire.core.choices import FUSION_METHODS
from spire.core.errors import SpireError

from ..answers import run_search
from ..backend import Backend, IndexBackend
from ..guard import LatencyStats
from ..schemas import FusionRequest, SearchRequest

EVAL_DEPTH = 1000  # what `spire eval` retrieves (its -k default), so the metrics agree
MAX_BATCH = 64  # SearchRequest's batch limit


@dataclass
class System:
    name: str
    backend: Backend
    dense: Any = None  # serving.dense_side.DenseSide, for fused searches
    fusion: FusionRequest | None = None
    stats: LatencyStats = field(default_factory=LatencyStats)

    def search(self, texts: list[str], k: int, explain: bool, fusion: str | None = None) -> dict:
        """run_search's answer for these queries ({"results": [{"query", "hits"}], ...})."""
        fused = FusionRequest(method=fusion) if fusion else self.fusion
        if fused is not None and self.dense is None:
            fused = None  # no dense side: the plain sparse run
        request = SearchRequest(queries=texts, k=k, explain=explain, fusion=fused)
        return run_search(self, request)

    def run(self, queries: dict[str, str]) -> dict[str, dict[str, float]]:
        """The top EVAL_DEPTH of each query, as a run (query id -> {doc id: score})."""
        ids = list(queries)
        run: dict[str, dict[str, float]] = {}
        for lo in range(0, len(ids), MAX_BATCH):
            part = ids[lo : lo + MAX_BATCH]
            answer = self.search([queries[q] for q in part], EVAL_DEPTH, explain=False)
            for qid, result in zip(part, answer["results"], strict=True):
                run[qid] = {h["docid"]: h["score"] for h in result["hits"]}
        return run

    def encoder(self):
        return self.backend.encoder(self.backend.snapshot())

    def top(self, qid: str, text: str, k: int) -> list[dict]:
        """The query's top k as the compare view lists them ({"rank", "docid", "score"})."""
        return self.search([text], k, explain=False)["results"][0]["hits"]

    def generation(self) -> object:
        """Changes whenever the system's answers may (for the evaluation's cache)."""
        return self.backend.snapshot().generation


@dataclass
class RunFile:
    """A TREC run file standing in for a system (`--runs`): it answers its own queries."""

    name: str
    ranking: Run

    def top(self, qid: str, text: str, k: int) -> list[dict] | None:
        """None for a query the file cannot answer: any text but a dataset query's."""
        if not qid:
            return None
        docs = ranked(self.ranking.get(qid, {}))[:k]
        return [{"rank": r, "docid": d, "score": s} for r, (d, s) in enumerate(docs, start=1)]

    def run(self, queries: dict[str, str]) -> dict[str, dict[str, float]]:
        return {q: dict(self.ranking.get(q, {})) for q in queries}

    def generation(self) -> object:
        return 0


def load_runs(paths: list[Path]) -> list[RunFile]:
    if not 1 <= len(paths) <= 2:
        raise SpireError(f"--runs: give one or two TREC run files, not {len(paths)}")
    out = []
    for path in paths:
        if not path.is_file():
            raise SpireError(f"--runs {path}: no such file")
        out.append(RunFile(path.name, Run.load_trec(path)))
    return out


def parse_compare(spec: str, folder: Path, dense: Any) -> System:
    """The second system from `--compare SPEC` (see the module's docstring)."""
    name, _, value = spec.partition("=")
    if name == "fusion":
        method = value or "rrf"
        if method not in FUSION_METHODS:
            raise SpireError(
                f"--compare {spec}: unknown fusion method {method!r} "
                f"(choose from {', '.join(FUSION_METHODS)})"
            )
        if dense is None:
            raise SpireError(f"--compare {spec}: fusion needs a dense side; add --dense DIR")
        return System(f"fused ({method})", IndexBackend.open(folder, writable=False),
                      dense=dense, fusion=FusionRequest(method=method))  # fmt: skip
    if name == "query-terms":
        if not value.isdigit() or int(value) < 1:
            raise SpireError(f"--compare {spec}: N must be a whole number >= 1")
        searcher = open_index(folder, query_terms=int(value))
        return System(f"{int(value)} heaviest query terms", IndexBackend(searcher))
    other = Path(spec)
    if not other.is_dir():
        raise SpireError(
            f"--compare {spec}: no such index folder (or give fusion[=METHOD] or query-terms=N)"
        )
    return System(other.name, IndexBackend.open(other, writable=False))
