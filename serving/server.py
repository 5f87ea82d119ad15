"""HTTP search server: a FastAPI app over a (segmented) index folder, run by uvicorn.

Endpoints: POST/GET /search (optionally fused with a dense index), POST /encode,
POST /documents, DELETE /documents/{id}, GET /health, GET /stats, plus the OpenAPI
schema (/openapi.json, /docs). Searches read one snapshot each and never wait for
writes; writes go through one group-commit thread and are acknowledged only after their
commit; a background thread merges segments. See docs/serving.md.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.parse
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexing.incremental import BackgroundMerger, GroupCommitter, MergePolicy, WriteBatch
from spire.core.choices import FUSION_METHODS
from spire.core.errors import ArgumentError, SpireError
from spire.core.ids import as_id

from .answers import encode, run_search, stats
from .backend import Backend, IndexBackend
from .dense_side import DenseSide, PinnedMergePolicy
from .guard import Guard, LatencyStats, Limits, error_body
from .openapi_docs import add_docs
from .schemas import (
    MAX_QUERY_CHARS,
    AddRequest,
    AddResponse,
    DeleteResponse,
    EncodeRequest,
    EncodeResponse,
    ErrorResponse,
    FusionRequest,
    HealthResponse,
    SearchRequest,
    SearchResponse,
    StatsResponse,
)

if TYPE_CHECKING:
    from .ui import UiOptions

log = logging.getLogger("spire.server")
ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 408, 413, 415, 422)}


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


class ServerState:
    """What the endpoints share: the backend, the writer and the statistics."""

    def __init__(
        self,
        backend: Backend,
        *,
        read_only: bool,
        verify: bool,
        policy: MergePolicy,
        encode_threads: int | None,
        dense: str | Path | None = None,
    ) -> None:
        self.backend = backend
        self.dense = DenseSide(dense, verify=verify) if dense is not None else None
        self.encode_threads = encode_threads
        # One document encoding at a time: a forward pass is tens of milliseconds of
        # CPU, and several at once would starve the searches that share these cores.
        self.encode_slot = threading.Lock()
        self.stats = LatencyStats()
        self.read_only = read_only
        self.policy = policy
        self.committer: GroupCommitter | None = None
        self.merger: BackgroundMerger | None = None
        self.started = time.time()

    def start(self) -> None:
        if not self.read_only and self.encode_threads:
            import torch

            torch.set_num_threads(self.encode_threads)  # leave cores to the searches
        if not self.read_only:
            policy = self.policy
            if self.dense is not None:  # keep what the dense side covers in place
                pinned = self.dense.covered_segments(self.backend.snapshot())
                policy = PinnedMergePolicy(**vars(policy), pinned=pinned)
            store = self.backend.store
            self.merger = BackgroundMerger(store, policy).start()
            self.committer = GroupCommitter(store, on_commit=lambda _: self.merger.notify())
        self.warm_up()

    def stop(self) -> None:
        if self.committer is not None:
            self.committer.close()
        if self.merger is not None:
            self.merger.stop()

    def warm_up(self) -> None:
        """Load the tokenizer (and the document model when writable) and the kernels now,
        so the first request does not pay for them."""
        snap = self.backend.snapshot()
        encoder = self.backend.encoder(snap)
        self.backend.search(encoder.encode_queries(["warm up"]), 10, snap)
        if not self.read_only:
            encoder.encode_documents(["warm up"])
        if self.dense is not None:
            self.dense.search(["warm up"], 10, snap)  # loads the dense model
            covered = int(self.dense.covered(snap).sum())
            if covered == 0:
                log.warning("the dense index %s covers none of the live documents; "
                            "rebuild it with spire index-dense", self.dense.folder)  # fmt: skip

    def writer(self) -> GroupCommitter:
        if self.committer is None:
            raise ApiError(403, "read_only", "this server is read-only; writes are disabled")
        return self.committer


def create_app(
    folder: str | Path,
    *,
    api_key: str | None = None,
    read_only: bool = False,
    limits: Limits | None = None,
    verify: bool = True,
    merge_policy: MergePolicy | None = None,
    encode_threads: int | None = 1,
    dense: str | Path | None = None,
    backend: Backend | None = None,
    ui: UiOptions | None = None,
) -> FastAPI:
    """The app for one index folder; opening (and checking) the index happens here, so a
    bad folder fails before the server binds its port.

    `encode_threads` caps torch's threads for document encoding (None: torch's default).
    `dense`: a folder written by `spire index-dense` for this index, enabling fusion.
    `backend`: what answers instead of the folder's own IndexBackend (`folder` is then
    only named in messages). `ui`: mount the page at /ui (serving/ui, docs/ui.md)."""
    if backend is None:
        backend = IndexBackend.open(folder, writable=not read_only, verify=verify)
    state = ServerState(
        backend,
        read_only=read_only,
        verify=verify,
        policy=merge_policy or MergePolicy(),
        encode_threads=encode_threads,
        dense=dense,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        state.start()
        yield
        state.stop()

    app = FastAPI(
        title="spire",
        summary="Learned sparse retrieval: search, encode and incremental indexing.",
        lifespan=lifespan,
        responses=ERRORS,
        docs_url=None,  # ours, from server_docs: it says when it needs internet access
        redoc_url=None,
    )
    app.state.spire = state
    add_docs(app, api_key_required=api_key is not None)
    _add_error_handlers(app)
    _add_search_routes(app, state)
    _add_document_routes(app, state)
    open_paths: frozenset[str] = frozenset()
    if ui is not None:  # the dataset and a --compare index open here, before the port binds
        from .ui import OPEN_PATHS, add_ui

        add_ui(app, state, ui, Path(folder), needs_key=api_key is not None, api_error=ApiError)
        open_paths = OPEN_PATHS
    app.add_middleware(Guard, api_key=api_key, limits=limits or Limits(), stats=state.stats,
                       open_paths=open_paths)  # fmt: skip
    return app


def _fast_json(content: dict) -> Response:
    """Serialise a response we built ourselves to the declared model, skipping FastAPI's
    re-validation of it (a tenth of a millisecond per search)."""
    return Response(json.dumps(content, separators=(",", ":")), media_type="application/json")


def _add_search_routes(app: FastAPI, state: ServerState) -> None:
    # Sparse searches run on the event loop: they take well under a millisecond, less
    # than a hop to the thread pool costs. Fused searches (a dense model's forward pass,
    # milliseconds) and writes (model encoding, fsync) run in the pool.
    async def answer(request: SearchRequest) -> Response:
        if request.fusion is None:
            return _fast_json(run_search(state, request))
        if state.dense is None:
            raise ApiError(
                400, "no_dense_index",
                "fusion needs a dense index, and this server has none; start it with "
                "`spire serve DIR --dense DENSE_DIR` (build DENSE_DIR with `spire index-dense`)",
            )  # fmt: skip
        return _fast_json(await run_in_threadpool(run_search, state, request))

    @app.post("/search", response_model=SearchResponse)
    async def search_post(request: SearchRequest) -> Response:
        """Search one query or a batch; `explain` adds each hit's matched terms;
        `fusion` fuses the sparse hits with the dense index's (needs `--dense`)."""
        return await answer(request)

    @app.get("/search", response_model=SearchResponse, dependencies=[Depends(_strict_query)])
    async def search_get(
        q: Annotated[str, Query(max_length=MAX_QUERY_CHARS)],
        k: int = 10,  # checked by SearchRequest, in the words of the other surfaces
        explain: bool = False,
        fusion: Annotated[
            Literal[FUSION_METHODS] | None,
            Query(description="Fuse with the dense index by this method, default weights"),
        ] = None,
    ) -> Response:
        """Search one query given in the URL."""
        try:
            fused = FusionRequest(method=fusion) if fusion is not None else None
            request = SearchRequest(query=q, k=k, explain=explain, fusion=fused)
        except ValueError as exc:  # pydantic's ValidationError, e.g. a blank q
            raise RequestValidationError(_as_query_errors(exc)) from None
        return await answer(request)

    @app.post("/encode", response_model=EncodeResponse)
    def encode_post(request: EncodeRequest) -> dict:
        """Encode a text as the index's encoder would: {token: weight}."""
        return encode(state, request)

    @app.get("/health", response_model=HealthResponse)
    def health() -> dict:
        """Liveness; needs no API key."""
        snap = state.backend.snapshot()
        return {"status": "ok", "generation": snap.generation, "docs": snap.n_docs}

    @app.get("/stats", response_model=StatsResponse)
    def stats_get() -> dict:
        """Documents, segments, postings and per-endpoint latency percentiles."""
        return stats(state)


def _add_document_routes(app: FastAPI, state: ServerState) -> None:
    @app.post("/documents", response_model=AddResponse)
    def add_documents(request: AddRequest) -> dict:
        """Add documents, replacing any with the same id; returns after the commit."""
        writer = state.writer()
        snap = state.backend.snapshot()
        docs = request.documents
        with state.encode_slot:
            vectors = state.backend.encoder(snap).encode_documents([d.full_text() for d in docs])
        result = _committed(writer, WriteBatch().add([d.id for d in docs], vectors))
        replaced = result.results[0].count
        return {
            "added": len(docs) - replaced,
            "replaced": replaced,
            "generation": result.generation,
        }

    @app.delete("/documents/{docid:path}", response_model=DeleteResponse)
    def delete_document(
        docid: Annotated[str, PathParam(min_length=1)],
    ) -> dict:
        """Delete one document; 404 when no live document has this id."""
        try:
            as_id(docid, "docid")  # spire.core.ids, as for adds: an id no add accepts is refused
        except ArgumentError as exc:
            raise ApiError(422, "validation_error", str(exc)) from None
        result = _committed(state.writer(), WriteBatch().delete([docid]))
        if not result.results[0].found[0]:
            raise ApiError(404, "not_found", f"no document with id {docid!r}")
        return {"id": docid, "deleted": True, "generation": result.generation}


def _committed(writer: GroupCommitter, batch: WriteBatch, timeout: float = 120.0):
    """Queue a write and wait for its commit; the answer is sent only after it."""
    try:
        return writer.submit(batch).result(timeout)
    except TimeoutError:
        raise ApiError(503, "busy", f"the write did not commit within {timeout:g} s") from None


def _strict_query(request: Request) -> None:
    """GET parameters get the same strictness as JSON bodies: UTF-8, no unknown names."""
    for part in request.scope.get("query_string", b"").split(b"&"):
        name, _, value = part.partition(b"=")
        for raw in (name, value):
            try:
                urllib.parse.unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ApiError(
                    400, "bad_request", f"query string is not valid UTF-8 ({exc.reason})"
                ) from None
    unknown = sorted(set(request.query_params) - {"q", "k", "explain", "fusion"})
    if unknown:
        raise ApiError(422, "validation_error", f"unknown query parameter {unknown[0]!r}")


def _as_query_errors(exc) -> list[dict]:
    errors = getattr(exc, "errors", lambda: [])()
    return [
        {**e, "loc": ("query", "q" if e["loc"] == ("query",) else e["loc"][-1])} for e in errors
    ]


def _describe(error: dict) -> str:
    # loc starts with where the value came from: "query" (the URL) or "body" (JSON),
    # so the body's own `query` field reads as a body field, not a URL parameter.
    source, *loc = [str(p) for p in error.get("loc", ())] or ["body"]
    if source == "query":
        where = f"query parameter {'.'.join(loc)!r}"
    elif source == "body":
        where = f"body field {'.'.join(loc)!r}" if loc else "body"
    else:  # "path": DELETE /documents/{docid}
        where = ".".join([source, *loc])
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return f"{where}: unknown field"
    if kind == "missing":
        return f"{where}: required"
    msg = error.get("msg", "invalid")
    return f"{where}: {msg.removeprefix('Value error, ')}"


def _add_error_handlers(app: FastAPI) -> None:
    def reply(status: int, error: str, message: str, details=None) -> JSONResponse:
        return JSONResponse(error_body(status, error, message, details), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def on_validation(_request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return reply(400, "bad_request", "body is not valid JSON")
        details = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg")} for e in errors]
        message = "; ".join(_describe(e) for e in errors[:3])
        return reply(422, "validation_error", message, details[:20])

    @app.exception_handler(ApiError)
    async def on_api_error(_request, exc: ApiError) -> JSONResponse:
        return reply(exc.status, exc.error, exc.message)

    @app.exception_handler(SpireError)
    async def on_spire_error(_request, exc: SpireError) -> JSONResponse:
        return reply(400, "bad_request", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_request, exc: StarletteHTTPException) -> JSONResponse:
        names = {404: "not_found", 405: "method_not_allowed"}
        return reply(exc.status_code, names.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def on_crash(_request, exc: Exception) -> JSONResponse:
        log.exception("internal error")  # the traceback goes to the log, never the client
        return reply(500, "internal", f"internal error ({type(exc).__name__}); see the server log")
