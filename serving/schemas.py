"""Request and response models of the HTTP server (serving/server.py).

Requests are strict: unknown fields are refused (a typo such as "topk" must not be
silently ignored) and JSON types are not coerced ("10" is not a k). Every limit below
turns an oversized request into a 422 that names the field, before any work is done.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from spire.core.arguments import check_k, query_problem
from spire.core.choices import FUSION_METHODS
from spire.core.errors import ArgumentError
from spire.core.ids import as_id, check_ids

MAX_QUERY_CHARS = 1000
MAX_BATCH = 64
MAX_K = 1000
MAX_DOC_CHARS = 100_000
MAX_DOCS_PER_REQUEST = 256
MAX_DEPTH = 1000
MAX_WEIGHT = 1e6  # keeps every fused score finite (JSON has no infinity)
DEFAULT_DEPTH = 100


def _not_blank(value: str) -> str:
    problem = query_problem(value)  # the words the CLI and the Python API use
    if problem:
        raise ValueError(problem)
    return value


def _clean_id(value: object) -> str:
    try:
        return as_id(value)  # spire.core.ids: the rule every reader applies (an int becomes str)
    except ArgumentError as exc:
        raise ValueError(str(exc).removeprefix("document id: ")) from None


QueryText = Annotated[str, Field(max_length=MAX_QUERY_CHARS), AfterValidator(_not_blank)]
# Any JSON value reaches spire.core.ids, so a wrong type gets the words the other surfaces use.
DocId = Annotated[
    Any,
    AfterValidator(_clean_id),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
]
DocText = Annotated[str, Field(max_length=MAX_DOC_CHARS)]


def _hit_count(value: object) -> int:
    try:
        k = check_k(value)  # spire.core.arguments: the words the CLI and the Python API use
    except ArgumentError as exc:
        raise ValueError(str(exc).removeprefix("k: ")) from None
    if k > MAX_K:
        raise ValueError(f"must be at most {MAX_K}, not {k}")
    return k


HitCount = Annotated[
    Any,
    AfterValidator(_hit_count),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_K}),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Weight = Annotated[float, Field(ge=0, le=MAX_WEIGHT, allow_inf_nan=False)]


class FusionRequest(Strict):
    """Fuse the sparse run with the dense index's run, as `retrieval.fusion.fuse` does
    offline: each side contributes its `depth` best documents, weighted."""

    method: Literal[FUSION_METHODS] = "rrf"
    sparse_weight: Weight = 1.0
    dense_weight: Weight = 1.0
    depth: Annotated[int, Field(ge=1, le=MAX_DEPTH)] | None = Field(
        default=None, description=f"Hits taken from each side; default max(k, {DEFAULT_DEPTH})"
    )
    rrf_k: Annotated[float, Field(ge=0, le=MAX_WEIGHT, allow_inf_nan=False)] | None = Field(
        default=None, description="RRF's rank constant (rrf only; default 60)"
    )

    @model_validator(mode="after")
    def _sensible(self) -> FusionRequest:
        if self.sparse_weight == 0 and self.dense_weight == 0:
            raise ValueError("sparse_weight and dense_weight must not both be 0")
        if self.rrf_k is not None and self.method != "rrf":
            raise ValueError(f"rrf_k applies to method 'rrf' only, not {self.method!r}")
        return self

    def options(self) -> dict:
        """Keyword options for `retrieval.fusion.fuse`."""
        return {"k": self.rrf_k} if self.rrf_k is not None else {}


class SearchRequest(Strict):
    """One query (`query`) or a batch (`queries`), never both."""

    query: QueryText | None = None
    queries: Annotated[list[QueryText], Field(min_length=1, max_length=MAX_BATCH)] | None = None
    k: HitCount = 10
    explain: bool = False
    fusion: FusionRequest | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SearchRequest:
        if (self.query is None) == (self.queries is None):
            raise ValueError("give exactly one of 'query' (a string) or 'queries' (a list)")
        if self.fusion is not None and self.fusion.depth is not None and self.fusion.depth < self.k:
            raise ValueError(f"fusion.depth ({self.fusion.depth}) must be >= k ({self.k})")
        return self

    def depth(self) -> int:
        """How many hits each side of a fusion contributes."""
        given = self.fusion.depth if self.fusion is not None else None
        return given if given is not None else max(self.k, DEFAULT_DEPTH)

    def texts(self) -> list[str]:
        return [self.query] if self.query is not None else list(self.queries or [])


class EncodeRequest(Strict):
    text: Annotated[str, Field(max_length=MAX_DOC_CHARS), AfterValidator(_not_blank)]
    kind: Literal["query", "document"] = "query"


class DocumentIn(Strict):
    id: DocId
    title: DocText = ""
    text: DocText = ""

    @model_validator(mode="after")
    def _has_text(self) -> DocumentIn:
        if not (self.title.strip() or self.text.strip()):
            raise ValueError(f"document {self.id!r} has no text (give 'text' or 'title')")
        return self

    def full_text(self) -> str:
        return f"{self.title} {self.text}".strip()  # as eval.data.datasets.load_corpus joins them


class AddRequest(Strict):
    documents: Annotated[list[DocumentIn], Field(min_length=1, max_length=MAX_DOCS_PER_REQUEST)]

    @model_validator(mode="after")
    def _unique(self) -> AddRequest:
        try:
            check_ids([doc.id for doc in self.documents], "documents")
        except ArgumentError as exc:
            raise ValueError(str(exc)) from None
        return self


class ContributionOut(BaseModel):
    token: str
    term: int
    query_weight: float
    doc_weight: float
    score: float


class SideOut(BaseModel):
    rank: int | None = Field(description="Rank in this side's run; null when not in it")
    score: float | None


class FusionDetailOut(BaseModel):
    sparse: SideOut
    dense: SideOut


class HitOut(BaseModel):
    rank: int
    docid: str
    score: float
    explanation: list[ContributionOut] | None = None
    fusion: FusionDetailOut | None = Field(
        default=None, description="With fusion and explain: each side's rank and score"
    )


class QueryResult(BaseModel):
    query: str
    hits: list[HitOut]


class FusionOut(BaseModel):
    method: str
    sparse_weight: float
    dense_weight: float
    depth: int
    rrf_k: float | None
    dense_covered: int = Field(
        description="Documents the dense side answers for in this generation"
    )


class SearchResponse(BaseModel):
    results: list[QueryResult]
    generation: int
    took_ms: float = Field(description="Time spent encoding and searching, inside the server")
    fusion: FusionOut | None = None


class DenseStats(BaseModel):
    folder: str
    encoder: str
    dim: int
    vectors: int
    covered: int


class EncodeResponse(BaseModel):
    kind: str
    terms: int
    vector: dict[str, float]


class AddResponse(BaseModel):
    added: int
    replaced: int
    generation: int


class DeleteResponse(BaseModel):
    id: str
    deleted: bool
    generation: int


class HealthResponse(BaseModel):
    status: Literal["ok"]
    generation: int
    docs: int


class LatencySummary(BaseModel):
    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


class StatsResponse(BaseModel):
    docs: int
    deleted: int
    segments: int
    postings: int
    generation: int
    encoder: str
    mode: str
    impact_dtype: str
    segment_sizes: list[int]
    commits: int
    merges: int
    uptime_s: float
    read_only: bool
    dense: DenseStats | None = None
    latency: dict[str, LatencySummary]


class ErrorBody(BaseModel):
    status: int
    error: str
    message: str
    details: list[dict] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
